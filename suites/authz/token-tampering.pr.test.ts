import { describe, expect, test, type TestContext } from 'vitest';
import { authHeaders, describeFindings, fillPath, useTarget, type Credentials, type Finding, type HttpExchange, type ResourceInstance, type RouteDefinition, type Severity } from '../../harness/index.ts';
import { credentialSecrets, type Judged } from '../../harness/suite/use-target.ts';
import { decodeJwt, flipCharacter, garbageTokens, keyedVariants, signHs256, unkeyedVariants } from '../../harness/suite/jwt-forge.ts';

/**
 * Token tampering: on every resource route, a principal the policy allows
 * presents a forged, broken, expired, suspended or foreign credential instead
 * of its own, and the route must deny it (the profile's deny oracle) without a
 * 5xx. JWT variants need `profile.tokens`; the rest works on any credentials.
 * Generated from the profile.
 */
const target = await useTarget();
const { profile } = target;
const tokens = profile.tokens;
const SUITE = 'authz/token-tampering';
const CHECK = 'authz.token-tampering';

const SEVERITY: Record<string, Severity> = {
  'alg-none': 'critical',
  'bad-signature': 'critical',
  expired: 'critical',
  'not-yet-valid': 'critical',
  'stripped-claim': 'critical',
  suspended: 'critical',
};

// ── route classes ─────────────────────────────────────────────────────────────

/** One resource operation that is served by a route. */
interface RouteUse {
  resource: string;
  op: string;
  route: RouteDefinition;
}

/**
 * A route (method and path template) and the resource operations served by
 * it. Two resources may share a route (a message read is the channel's
 * message list): the route is attacked once, through the first operation
 * that some principal is allowed, and its findings keep one subject.
 */
interface RouteClass {
  method: string;
  path: string;
  uses: RouteUse[];
  /** `GET /tenants/{tenantId}/channels (channel.list)`: templates, so names and ids are stable across runs. */
  name: string;
}

const byRoute = new Map<string, RouteClass>();
const destructiveClasses: string[] = [];
for (const [resource, def] of Object.entries(profile.resources)) {
  for (const [op, route] of Object.entries(def.operations)) {
    if (!route) continue;
    // An accepted tampered token would destroy the instance and make every later variant look denied.
    if (def.destructive?.includes(op)) {
      destructiveClasses.push(`${route.method} ${route.path} (${resource}.${op})`);
      continue;
    }
    const key = `${route.method} ${route.path}`;
    const cls = byRoute.get(key) ?? { method: route.method, path: route.path, uses: [], name: '' };
    cls.uses.push({ resource, op, route });
    cls.name = `${key} (${cls.uses.map((u) => `${u.resource}.${u.op}`).join(', ')})`;
    byRoute.set(key, cls);
  }
}
const routeClasses = [...byRoute.values()];

/** One instance per resource, created on first use and shared by every route class of the resource. */
const instances = new Map<string, Promise<ResourceInstance>>();
const instanceOf = (resource: string) => {
  let p = instances.get(resource);
  if (!p) instances.set(resource, (p = target.createInstance(resource)));
  return p;
};

// ── per-class preparation: instance, victim, baseline ────────────────────────

const tokenHeader = (tokens?.header ?? 'authorization').toLowerCase();

/** The header key in `cred` that carries the bearer JWT, and the token. */
function bearerOf(cred: Credentials): { key: string; token: string } | undefined {
  const key = Object.keys(cred.headers ?? {}).find((k) => k.toLowerCase() === tokenHeader);
  const m = key ? /^Bearer\s+(\S+)$/i.exec(cred.headers![key]!) : null;
  return key && m && decodeJwt(m[1]!) ? { key, token: m[1]! } : undefined;
}

interface Prepared extends RouteUse {
  instance: ResourceInstance;
  victim: string;
  cred: Credentials;
  /** The victim's own request, untampered, as the outcome oracle read it. */
  baseline: Judged;
}

const prepared = new Map<string, Promise<Prepared | { skip: string }>>();

/**
 * Picks the first use of the route that the policy allows someone, and as
 * victim the first principal it allows (a user before a bot; with `tokens`,
 * one whose credentials carry a JWT), so that a denial of the victim's
 * tampered credentials is the token check's doing, not the policy's.
 */
function prepare(cls: RouteClass): Promise<Prepared | { skip: string }> {
  let p = prepared.get(cls.name);
  if (!p) {
    p = (async () => {
      for (const use of cls.uses) {
        const instance = await instanceOf(use.resource);
        const policy = profile.resources[use.resource]!.policy;
        const allowed = target.principals.filter((pr) => policy(pr, use.op, instance, target.world) === 'allow').sort((a, b) => Number(a.kind === 'bot') - Number(b.kind === 'bot'));
        if (!allowed.length) continue;
        let victim = allowed[0]!.name;
        if (tokens) {
          for (const pr of allowed) {
            if (bearerOf(await target.credentials(pr.name))) {
              victim = pr.name;
              break;
            }
          }
        }
        const cred = await target.credentials(victim);
        const baseline = await send(use.route, instance, authHeaders(cred));
        return { ...use, instance, victim, cred, baseline };
      }
      return { skip: `no principal is allowed ${cls.name} by the policy, so a denial would prove nothing` };
    })();
    prepared.set(cls.name, p);
  }
  return p;
}

/** Sends the route with exactly these headers (no credentials of the harness's own), read by the outcome oracle (retried while inconclusive). */
function send(route: RouteDefinition, instance: ResourceInstance, headers: Record<string, string>): Promise<Judged> {
  const path = fillPath(route.path, instance.params);
  const body = route.body?.({ world: target.world, params: instance.params, runId: target.run.runId });
  return target.judge(null, { method: route.method, path, body, contentType: route.contentType, headers });
}

/**
 * Admitted = the oracle read it as allowed. A rate-limited, unavailable or
 * unanswered request (or another 5xx) is inconclusive: counted on the check,
 * never read as "the tampered credentials were accepted".
 */
const admitted = (j: Judged) => j.outcome.verdict === 'allowed';

// ── attempts and findings ─────────────────────────────────────────────────────

interface Attempt {
  variant: string;
  label: string;
  headers: Record<string, string>;
  /** Forged or borrowed credential values, registered as secrets before the first request (junk that never was a credential is not). */
  secrets: string[];
}

/**
 * Registers values with the worker's redactor (excerpts) and on the test's
 * meta, so the runner redacts them from run.json and the captured logs too.
 */
function protect(task: TestContext['task'], values: string[]): void {
  task.meta.breakwater ??= { findings: [], secrets: [] };
  for (const v of values) {
    target.redactor.add(v);
    if (v.length >= 6) task.meta.breakwater.secrets.push(v);
  }
}

/** The victim's headers with the bearer JWT replaced (cookies dropped, so nothing else authenticates the request). */
function withBearer(cred: Credentials, key: string, token: string): Record<string, string> {
  return { ...cred.headers, [key]: token ? `Bearer ${token}` : 'Bearer ' };
}

/**
 * Sends every attempt on the route and reports one finding per variant that
 * was admitted. Inconclusive attempts (rate-limited, unavailable, another 5xx,
 * no answer, after retries) are counted on the check. Returns the findings.
 */
async function attack(task: TestContext['task'], ready: Prepared, attempts: Attempt[]) {
  const { route, instance } = ready;
  protect(task, attempts.flatMap((a) => a.secrets));
  const byVariant = new Map<string, Array<{ label: string; ex: HttpExchange; headers: Record<string, string> }>>();
  for (const a of attempts) {
    const j = await send(route, instance, a.headers);
    target.tally(task, `${a.variant} [${a.label}] ${route.method} ${route.path}`, j.outcome);
    if (admitted(j)) byVariant.set(a.variant, [...(byVariant.get(a.variant) ?? []), { label: a.label, ex: j.exchange!, headers: a.headers }]);
  }
  const subjectOf = (variant: string) => `${variant} ${route.method} ${route.path}`;
  const expected = `denied (${profile.deny.statuses.join('/')}${profile.deny.emptyBody ? ' or an empty body' : ''}, or another 4xx)`;
  // The first hit stands for the rest: observed lists every one.
  const excerpt = ([{ label, ex }]: Array<{ label: string; ex: HttpExchange }>) => `[${label}] ${ex.method} ${new URL(ex.url).pathname}${new URL(ex.url).search}\n${ex.status} ${ex.text.slice(0, 300)}`;
  for (const [variant, accepted] of byVariant) {
    if (accepted.length) {
      // Confirmation: the first accepted attempt, sent once more, must be accepted again.
      const again = await send(route, instance, accepted[0]!.headers);
      const unconfirmed = admitted(again) ? undefined : `[${accepted[0]!.label}] was accepted once but not when sent again: ${again.outcome.why}`;
      target.report(task, {
        check: CHECK,
        suite: SUITE,
        severity: SEVERITY[variant] ?? 'high',
        title: `${variant} credentials were accepted on ${route.method} ${route.path}`,
        subject: subjectOf(variant),
        observed: accepted.map((r) => `${r.label}: status ${r.ex.status}`).join('; '),
        expected,
        excerpt: excerpt(accepted),
      }, unconfirmed ? { unconfirmed } : undefined);
    }
  }
  return task.meta.breakwater?.findings ?? [];
}

/** Prepares the class or skips the test with the reason. */
async function setup(ctx: TestContext, cls: RouteClass): Promise<Prepared> {
  const p = await prepare(cls);
  if ('skip' in p) ctx.skip(p.skip);
  const ready = p as Prepared;
  if (!admitted(ready.baseline)) {
    await ctx.annotate(`${ready.victim}'s own request was not admitted (${ready.baseline.outcome.why}): a denial of tampered credentials is not conclusive here`, 'warning');
  }
  return ready;
}

/** The victim's JWT, or a skip: the profile says tokens are JWTs, but this principal's credentials carry none. */
function victimJwt(ctx: TestContext, ready: Prepared) {
  const b = bearerOf(ready.cred);
  if (!b) ctx.skip(`${ready.victim}'s credentials carry no JWT in the "${tokenHeader}" header`);
  return b!;
}

/** The HS256 key from `tokens.signing`, or why there is none. */
function signingKey(): { key: string } | { reason: string } {
  const signing = tokens?.signing;
  if (!signing) return { reason: 'profile.tokens.signing is absent, so nothing can be re-signed' };
  if ('stackSecret' in signing.secret) {
    const key = target.run.stackSecrets?.[signing.secret.stackSecret];
    return key ? { key } : { reason: `the stack generated no {{secret:${signing.secret.stackSecret}}} (attach provider?), so nothing can be re-signed` };
  }
  const key = process.env[signing.secret.env];
  return key ? { key } : { reason: `${signing.secret.env} is not set, so nothing can be re-signed` };
}

const classNames = routeClasses.map((c) => [c.name, c] as const);
const each = (body: (ctx: TestContext, cls: RouteClass) => Promise<void>) => {
  if (!routeClasses.length) test.skip('no resource routes in the profile', () => {});
  test.concurrent.for(classNames)('%s', async ([, cls], ctx) => body(ctx, cls));
};
const expectNoFindings = (findings: Finding[]) => expect(findings, describeFindings(findings)).toEqual([]);

// ── suites ────────────────────────────────────────────────────────────────────

describe('token tampering', () => {
  for (const name of destructiveClasses) test.skip(`${name} (destructive: not attacked, so the shared instance stays alive)`, () => {});

  describe.skipIf(!tokens)(`unsigned and mis-signed JWTs (alg-none, bad-signature)${tokens ? '' : ': skipped, the profile has no tokens section'}`, () => {
    each(async (ctx, cls) => {
      const ready = await setup(ctx, cls);
      const { key, token } = victimJwt(ctx, ready);
      const attempts = unkeyedVariants(token).map((f) => ({ variant: f.variant, label: f.label, headers: withBearer(ready.cred, key, f.token), secrets: [f.token] }));
      expectNoFindings(await attack(ctx.task, ready, attempts));
    });
  });

  const signing = signingKey();
  describe.skipIf(!tokens || 'reason' in signing)(
    `re-signed JWTs with an invalid claim (expired, not-yet-valid, stripped-claim)${!tokens ? ': skipped, the profile has no tokens section' : 'reason' in signing ? `: skipped, ${signing.reason}` : ''}`,
    () => {
      each(async (ctx, cls) => {
        const ready = await setup(ctx, cls);
        const { key: header, token } = victimJwt(ctx, ready);
        const { key } = signing as { key: string };
        const jwt = decodeJwt(token)!;
        // Control: the same claims re-signed with the profile's key must be admitted wherever the real token is;
        // otherwise the key is wrong and every denial below would prove nothing.
        if (admitted(ready.baseline)) {
          const resigned = signHs256(jwt.header, jwt.payload, key);
          protect(ctx.task, [resigned]);
          const control = await send(ready.route, ready.instance, withBearer(ready.cred, header, resigned));
          if (control.outcome.verdict === 'inconclusive') {
            // Without the control the forged variants prove nothing: the whole class is inconclusive this run.
            target.tally(ctx.task, `re-signed control ${ready.route.method} ${ready.route.path}`, control.outcome);
            return;
          }
          expect(
            admitted(control),
            `${ready.victim}'s token re-signed unchanged with profile.tokens.signing's key was refused (${control.outcome.why}) where the original was admitted: the key does not match the target's; fix profile.tokens.signing`,
          ).toBe(true);
        }
        const forged = keyedVariants(token, key, { requiredClaims: tokens!.requiredClaims ?? ['sub', 'exp'], nowSeconds: Math.floor(Date.now() / 1000) });
        const attempts = forged.map((f) => ({ variant: f.variant, label: f.label, headers: withBearer(ready.cred, header, f.token), secrets: [f.token] }));
        expectNoFindings(await attack(ctx.task, ready, attempts));
      });
    },
  );

  /** Once per file: the profile suspends a fresh principal through the API. */
  let suspendedCred: Promise<Credentials> | undefined;
  const suspended = () =>
    (suspendedCred ??= tokens!.suspended!({ baseUrl: target.baseUrl, world: target.world, runId: target.run.runId, as: target.credentials }).then((c) => {
      for (const s of credentialSecrets(c)) target.redactor.add(s);
      return c;
    }));

  describe.skipIf(!tokens?.suspended)(`suspended principal${tokens?.suspended ? '' : ': skipped, the profile declares no tokens.suspended()'}`, () => {
    each(async (ctx, cls) => {
      const ready = await setup(ctx, cls);
      const cred = await suspended();
      expectNoFindings(await attack(ctx.task, ready, [{ variant: 'suspended', label: 'token of a suspended principal', headers: authHeaders(cred), secrets: credentialSecrets(cred) }]));
    });
  });

  describe('credentials of another tenant', () => {
    each(async (ctx, cls) => {
      const ready = await setup(ctx, cls);
      const policy = profile.resources[ready.resource]!.policy;
      const outsider = target.principals.find((p) => p.tenant !== ready.instance.tenant && policy(p, ready.op, ready.instance, target.world) === 'deny');
      if (!outsider) ctx.skip(`no principal outside tenant ${ready.instance.tenant} is denied ${ready.resource}.${ready.op} by the policy`);
      const cred = await target.credentials(outsider!.name);
      const attempts = [{ variant: 'other-tenant', label: `${outsider!.name} of tenant ${outsider!.tenant}`, headers: authHeaders(cred), secrets: credentialSecrets(cred) }];
      expectNoFindings(await attack(ctx.task, ready, attempts));
    });
  });

  describe('garbage, tampered and missing credentials', () => {
    each(async (ctx, cls) => {
      const ready = await setup(ctx, cls);
      const { cred } = ready;
      const attempts: Attempt[] = [{ variant: 'no-credentials', label: 'no credentials', headers: {}, secrets: [] }];
      const bearer = tokens ? bearerOf(cred) : undefined;
      if (bearer) {
        for (const g of garbageTokens()) attempts.push({ variant: 'garbage', label: `Bearer ${g.label}`, headers: withBearer(cred, bearer.key, g.value), secrets: [] });
      }
      // Opaque credentials: every cookie, and every header unless it is the JWT covered above.
      for (const [name, value] of Object.entries(cred.cookies ?? {})) {
        const as = (v: string) => authHeaders({ cookies: { ...cred.cookies, [name]: v } });
        const flipped = flipCharacter(value);
        attempts.push(
          { variant: 'tampered-session', label: `cookie ${name} with one character changed`, headers: as(flipped), secrets: [flipped] },
          ...garbageTokens().map((g) => ({ variant: 'garbage', label: `cookie ${name} ${g.label}`, headers: as(g.value), secrets: [] })),
        );
      }
      for (const [name, value] of Object.entries(cred.headers ?? {})) {
        if (bearer && name === bearer.key) continue;
        const scheme = /^(\S+\s+)(\S+)$/.exec(value);
        const as = (v: string) => ({ ...cred.headers, [name]: scheme ? `${scheme[1]}${v}` : v });
        const flipped = flipCharacter(scheme ? scheme[2]! : value);
        attempts.push(
          { variant: 'tampered-session', label: `header ${name} with one character changed`, headers: as(flipped), secrets: [flipped] },
          ...garbageTokens().map((g) => ({ variant: 'garbage', label: `header ${name} ${g.label}`, headers: as(g.value), secrets: [] })),
        );
      }
      expectNoFindings(await attack(ctx.task, ready, attempts));
    });
  });
});
