import type { Credentials, PrincipalInfo, ResourceInstance, TargetProfile } from '../../harness/config/target.ts';

/**
 * A plain, sequential principal × resource × operation run of a profile
 * against a live target, for checking profiles themselves (not the harness's
 * authz suite). A cell holds when a 2xx meets "allow" or a deny status meets "deny".
 */
export interface MatrixCell {
  principal: string;
  resource: string;
  op: string;
  expected: 'allow' | 'deny';
  status: number;
}

export interface MatrixRun<World> {
  world: World;
  cells: MatrixCell[];
  /** Cells whose status contradicts the policy, one line each. */
  mismatches: string[];
}

function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, k: string) => {
    if (!(k in params)) throw new Error(`route ${path} needs param "${k}" that the instance does not have`);
    return encodeURIComponent(params[k]!);
  });
}

function headersOf(c: Credentials): Record<string, string> {
  const h: Record<string, string> = { ...c.headers };
  const cookies = Object.entries(c.cookies ?? {});
  if (cookies.length) h.cookie = cookies.map(([k, v]) => `${k}=${v}`).join('; ');
  return h;
}

export async function runMatrix<World>(target: TargetProfile<World>, baseUrl: string, runId: string): Promise<MatrixRun<World>> {
  const world = await target.seed({ baseUrl, runId, secret: () => {} });
  const names = Object.keys(target.principals);
  const creds = new Map<string, Credentials>(
    await Promise.all(names.map(async (n) => [n, await target.principals[n]!.login({ baseUrl, world, runId })] as const)),
  );
  const as = async (n: string) => {
    const c = creds.get(n);
    if (!c) throw new Error(`create() asked for unknown principal "${n}"`);
    return c;
  };
  const info = (n: string): PrincipalInfo => {
    const p = target.principals[n]!;
    return { name: n, tenant: p.tenant, role: p.role, kind: p.kind, scopes: p.scopes ?? [] };
  };

  const cells: MatrixCell[] = [];
  for (const [resource, def] of Object.entries(target.resources)) {
    const create = () => def.create({ baseUrl, world, runId, as });
    let instance: ResourceInstance = await create();
    for (const [op, route] of Object.entries(def.operations)) {
      if (!route) continue;
      for (const n of names) {
        const body = route.body?.({ world, params: instance.params, runId });
        const headers = headersOf(creds.get(n)!);
        if (body !== undefined) headers['content-type'] = route.contentType ?? 'application/json';
        const res = await fetch(baseUrl + fill(route.path, instance.params), {
          method: route.method,
          headers,
          body: body === undefined ? undefined : route.contentType ? String(body) : JSON.stringify(body),
        });
        await res.arrayBuffer();
        cells.push({ principal: n, resource, op, expected: def.policy(info(n), op, instance, world), status: res.status });
        // A destroyed (or, for roles, changed) instance is made again before the next principal.
        if (res.ok && def.destructive?.includes(op)) instance = await create();
      }
    }
  }
  const holds = (c: MatrixCell) => (c.expected === 'allow' ? c.status >= 200 && c.status < 300 : target.deny.statuses.includes(c.status));
  const mismatches = cells.filter((c) => !holds(c)).map((c) => `${c.principal} ${c.op} ${c.resource}: expected ${c.expected}, got ${c.status}`);
  return { world, cells, mismatches };
}
