import type { Operation, PrincipalInfo, ResourceDefinition, ResourceInstance, RouteDefinition, Severity } from '../config/target.ts';
import type { Outcome } from './outcome.ts';
import { fillPath, type TargetContext } from './use-target.ts';

/** One cell of principals × resources × operations, with the expectation from the profile's policy. */
export interface MatrixCell {
  principal: PrincipalInfo;
  resource: string;
  op: Operation;
  route: RouteDefinition;
  instance: ResourceInstance;
  expected: 'allow' | 'deny';
}

export interface CellOutcome extends MatrixCell {
  /** The last response's status; 0 when none came. */
  status: number;
  /** The outcome oracle's reading, after retries of an inconclusive one. */
  outcome: Outcome;
  durationMs: number;
  excerpt: string;
}

/** Which boundary a cell tests, from who asks and what the resource belongs to. */
export type Boundary = 'cross-tenant' | 'bot-scope' | 'vertical' | 'horizontal';

export function boundaryOf(cell: Pick<MatrixCell, 'principal' | 'instance'>, def: Pick<ResourceDefinition, 'scope'>): Boundary {
  if (cell.principal.tenant !== cell.instance.tenant) return 'cross-tenant';
  if (cell.principal.kind === 'bot') return 'bot-scope';
  return def.scope === 'tenant' ? 'vertical' : 'horizontal';
}

export const BOUNDARY_SEVERITY: Record<Boundary, Severity> = { 'cross-tenant': 'critical', 'bot-scope': 'high', vertical: 'high', horizontal: 'high' };

/** Runs `tasks` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

/** Deterministic Fisher–Yates shuffle from a seed (mulberry32), so a nightly order can be replayed. */
export function shuffled<T>(items: T[], seed: number): T[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Sends one cell's request as its principal and reads the answer with the outcome oracle. */
export async function exercise(target: TargetContext, cell: MatrixCell): Promise<CellOutcome> {
  const path = fillPath(cell.route.path, cell.instance.params);
  const body = cell.route.body?.({ world: target.world, params: cell.instance.params, runId: target.run.runId });
  const { exchange: ex, outcome } = await target.judge(cell.principal.name, { method: cell.route.method, path, body, contentType: cell.route.contentType });
  return {
    ...cell,
    status: ex?.status ?? 0,
    outcome,
    durationMs: ex?.durationMs ?? 0,
    excerpt: `${cell.route.method} ${path} as ${cell.principal.name}\n→ ${ex ? `${ex.status} ${ex.text.slice(0, 240)}` : outcome.why}`,
  };
}

export interface MatrixOptions {
  /** Requests in flight for cells of one non-destructive operation. */
  concurrency?: number;
  /** Principal order per operation: the profile's order, or shuffled from this seed. */
  shuffleSeed?: number;
  /** Only these resources. */
  resources?: string[];
}

/**
 * Runs the whole matrix against the live stack. Resources and operations run
 * in turn; the principals of one operation run concurrently, except for
 * destructive operations, which run one at a time and re-create the instance
 * after every allowed call so each cell meets the state its policy assumes.
 */
/**
 * Confirms a cell that was served where the policy denies it: the same
 * request once more on the same stack, on a fresh instance of the resource
 * (the matrix has moved on since: a later delete may have removed the old one).
 * Returns undefined when it was served again, or what the re-run saw instead.
 */
export async function unconfirmedCell(target: TargetContext, cell: CellOutcome): Promise<string | undefined> {
  const instance = await target.createInstance(cell.resource);
  const again = await exercise(target, { ...cell, instance });
  return again.outcome.verdict === 'allowed' ? undefined : `served once (status ${cell.status}), but not when asked again: ${again.outcome.why}`;
}

export async function runAuthzMatrix(target: TargetContext, opts: MatrixOptions = {}): Promise<CellOutcome[]> {
  const outcomes: CellOutcome[] = [];
  const resources = Object.entries(target.profile.resources).filter(([name]) => !opts.resources || opts.resources.includes(name));
  for (const [resource, def] of resources) {
    let instance = await target.createInstance(resource);
    for (const [op, route] of Object.entries(def.operations)) {
      if (!route) continue;
      const principals = opts.shuffleSeed === undefined ? target.principals : shuffled(target.principals, opts.shuffleSeed + outcomes.length);
      const cellFor = (principal: PrincipalInfo): MatrixCell => ({
        principal,
        resource,
        op,
        route,
        instance,
        expected: def.policy(principal, op, instance, target.world),
      });
      if (def.destructive?.includes(op)) {
        for (const p of principals) {
          const out = await exercise(target, cellFor(p));
          outcomes.push(out);
          if (out.status < 300) instance = await target.createInstance(resource);
        }
      } else {
        await pool(principals, opts.concurrency ?? 8, async (p) => void outcomes.push(await exercise(target, cellFor(p))));
      }
    }
  }
  return outcomes;
}
