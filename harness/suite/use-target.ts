import { request as httpRequest } from 'undici';
import { afterEach, inject, type TestContext } from 'vitest';
import { pathToFileURL } from 'node:url';
import type { Credentials, PrincipalInfo, ResourceInstance, Severity, TargetProfile } from '../config/target.ts';
import { resolveConfig } from '../config/load-config.ts';
import { Redactor } from '../safety/redact.ts';
import { findingId, type CheckFigure, type Finding } from '../run/result.ts';
import type { ProvidedRun } from './provided.ts';
import { authHeaders, credentialSecrets } from './http-auth.ts';
import { classifyError, classifyResponse, DEFAULT_RETRY, retryDelayMs, type Outcome, type RetryPolicy } from './outcome.ts';
import './provided.ts';

export interface HttpExchange {
  method: string;
  url: string;
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
  durationMs: number;
}

/** A request judged by the outcome oracle, after any retries: the last response, if one came. */
export interface Judged {
  outcome: Outcome;
  exchange?: HttpExchange;
  attempts: number;
}

type RequestInit = { method: string; path: string; body?: unknown; contentType?: string; headers?: Record<string, string> };

/** What a suite works with: the profile, the started stack, the seeded world, and helpers. */
export interface TargetContext {
  profile: TargetProfile;
  run: ProvidedRun;
  baseUrl: string;
  world: any;
  redactor: Redactor;
  principals: PrincipalInfo[];
  /** Logs a principal in (cached per file); credentials are registered as secrets. */
  credentials(principal: string): Promise<Credentials>;
  /** Sends a request as a principal (or anonymously with `null`) through the entry link. */
  request(principal: string | null, init: RequestInit): Promise<HttpExchange>;
  /**
   * Sends a request and reads it with the outcome oracle (allowed, denied or
   * inconclusive; see outcome.ts). An inconclusive outcome is retried within
   * the bound, waiting out `Retry-After`; a network error is an inconclusive
   * outcome, never a throw.
   */
  judge(principal: string | null, init: RequestInit, retry?: RetryPolicy): Promise<Judged>;
  /** Whether a response counts as denied under the profile's deny oracle. */
  isDenied(ex: Pick<HttpExchange, 'status' | 'body'>): boolean;
  /** Counts a judged case on the running test: conclusive ones, and inconclusive ones with their subject and reason (reported per check). */
  tally(task: TestContext['task'], subject: string, outcome: Outcome | 'judged'): void;
  /** Records what the check measured against its bound, kept in the run result whether it passed or not. */
  figure(task: TestContext['task'], figure: CheckFigure): void;
  /** Seeds an instance of a resource as its owner. */
  createInstance(resource: string): Promise<ResourceInstance>;
  /** Hands the credentials seen so far to the runner (through the test's meta) for redacting every artifact. */
  flushSecrets(task: TestContext['task']): void;
  /**
   * Records a finding on the running test. Returns it. With `unconfirmed`
   * (the case did not fail again when re-run), it is kept apart in the run
   * result with its observation and blocks nothing.
   */
  report(task: TestContext['task'], f: Omit<Finding, 'id' | 'severity' | 'reproduce'> & { severity: Severity; reproduce?: Partial<Finding['reproduce']> }, opts?: { unconfirmed?: string }): Finding;
}

let cached: Promise<TargetContext> | undefined;

/** A credential whose JWT expires this close is treated as expired. */
const EXPIRY_MARGIN_MS = 5_000;
/** Without a readable expiry, a 401 for a credential at least this old is taken for an expired one. */
const STALE_CREDENTIAL_MS = 60_000;

/** When a credential stops working, from the `exp` of a JWT in any of its headers or cookies (epoch ms), if one is readable. */
export function expiryOf(c: Credentials): number | undefined {
  for (const v of [...Object.values(c.headers ?? {}), ...Object.values(c.cookies ?? {})]) {
    const token = /^(?:Bearer\s+)?([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(v.trim())?.[1];
    if (!token) continue;
    try {
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
      if (typeof payload.exp === 'number') return payload.exp * 1000;
    } catch {
      /* not a JWT */
    }
  }
  return undefined;
}

export { authHeaders, credentialSecrets, fillPath } from './http-auth.ts';

async function build(): Promise<TargetContext> {
  const run = inject('breakwater');
  if (!run) throw new Error('useTarget() runs only inside `breakwater run` (no provided run context)');
  const mod = (await import(pathToFileURL(run.configPath).href)) as { default: unknown };
  const ctx = createTargetContext(run, resolveConfig(mod.default, run.configPath).target);
  // Credentials used by a test that reported nothing must still reach the runner's redactor.
  afterEach(({ task }) => ctx.flushSecrets(task));
  return ctx;
}

/** Builds a suite context from a run and a profile; `useTarget()` does this from vitest's provided context. Benchmarks call it directly. */
export function createTargetContext(run: ProvidedRun, profile: TargetProfile): TargetContext {
  const redactor = new Redactor([...run.secrets, ...(profile.secrets?.values ?? [])]);
  const creds = new Map<string, { cred: Promise<Credentials>; at: number }>();
  const pendingSecrets: string[] = [];
  const baseUrl = run.stack.baseUrl;

  const credentials = (name: string, fresh = false) => {
    let entry = creds.get(name);
    if (!entry || fresh) {
      const def = profile.principals[name];
      if (!def) throw new Error(`no principal "${name}" in profile ${profile.name}`);
      const cred = def.login({ baseUrl, world: run.world, runId: run.runId }).then((c) => {
        for (const s of credentialSecrets(c)) {
          redactor.add(s);
          pendingSecrets.push(s);
        }
        return c;
      });
      creds.set(name, (entry = { cred, at: Date.now() }));
    }
    return entry.cred;
  };

  /**
   * A denial that only says the principal's credential ran out: its JWT
   * expires within EXPIRY_MARGIN_MS, or, with no readable expiry, a 401 for a
   * credential older than STALE_CREDENTIAL_MS (a fresh one refused is a real denial).
   */
  const expiredDenial = async (principal: string, status: number): Promise<boolean> => {
    const entry = creds.get(principal);
    if (!entry || (status !== 401 && !profile.deny.statuses.includes(status))) return false;
    const expiry = expiryOf(await entry.cred);
    if (expiry !== undefined) return expiry <= Date.now() + EXPIRY_MARGIN_MS;
    return status === 401 && Date.now() - entry.at > STALE_CREDENTIAL_MS;
  };

  const request: TargetContext['request'] = async (principal, init) => {
    const res = await send(principal, init);
    // An expired credential is not a denial: log in again and ask once more.
    if (principal && (await expiredDenial(principal, res.status))) {
      await credentials(principal, true);
      return send(principal, init);
    }
    return res;
  };

  const send = async (principal: string | null, init: RequestInit): Promise<HttpExchange> => {
    const cred = principal ? await credentials(principal) : undefined;
    const headers: Record<string, string> = { ...authHeaders(cred), ...(init.headers ?? {}) };
    let body: string | Uint8Array | undefined;
    if (init.body !== undefined) {
      if (init.contentType && init.contentType !== 'application/json') {
        body = typeof init.body === 'string' || init.body instanceof Uint8Array ? init.body : JSON.stringify(init.body);
        headers['content-type'] = init.contentType;
      } else {
        body = JSON.stringify(init.body);
        headers['content-type'] = 'application/json';
      }
    }
    const url = baseUrl + init.path;
    const started = performance.now();
    // undici's request API: the same client as fetch without its per-call overhead (the matrix is request-bound).
    const res = await httpRequest(url, { method: init.method as never, headers, body: body as never, headersTimeout: 15_000, bodyTimeout: 15_000 });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    const resHeaders = new Headers();
    for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) resHeaders.append(k, one);
    return { method: init.method, url, status: res.statusCode, body: parsed, text, headers: resHeaders, durationMs: performance.now() - started };
  };

  const isDenied: TargetContext['isDenied'] = (ex) => profile.deny.statuses.includes(ex.status) || (ex.status < 300 && !!profile.deny.emptyBody?.(ex.body));

  const judge: TargetContext['judge'] = async (principal, init, retry = DEFAULT_RETRY) => {
    let last: Judged | undefined;
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      let exchange: HttpExchange | undefined;
      let outcome: Outcome;
      try {
        exchange = await request(principal, init);
        outcome = classifyResponse(exchange, profile.deny);
      } catch (err) {
        outcome = classifyError(err);
      }
      last = { outcome, exchange, attempts: attempt };
      if (outcome.verdict !== 'inconclusive' || attempt === retry.attempts) break;
      await new Promise((r) => setTimeout(r, retryDelayMs(attempt, retry, exchange?.headers.get('retry-after'))));
    }
    return last!;
  };

  return {
    profile,
    run,
    baseUrl,
    world: run.world,
    redactor,
    principals: Object.entries(profile.principals).map(([name, p]) => ({ name, tenant: p.tenant, role: p.role, kind: p.kind, scopes: p.scopes ?? [] })),
    credentials,
    request,
    judge,
    isDenied,
    figure(task, figure) {
      task.meta.breakwater ??= { findings: [], secrets: [] };
      (task.meta.breakwater.figures ??= []).push({ ...figure, what: redactor.redact(figure.what) });
    },
    tally(task, subject, outcome) {
      task.meta.breakwater ??= { findings: [], secrets: [] };
      const cases = (task.meta.breakwater.cases ??= { conclusive: 0, inconclusive: [] });
      if (outcome !== 'judged' && outcome.verdict === 'inconclusive') cases.inconclusive.push({ subject: redactor.redact(subject), why: outcome.why });
      else cases.conclusive++;
    },
    async createInstance(resource) {
      const def = profile.resources[resource];
      if (!def) throw new Error(`no resource "${resource}" in profile ${profile.name}`);
      return def.create({ baseUrl, world: run.world, runId: run.runId, as: credentials });
    },
    flushSecrets(task) {
      if (!pendingSecrets.length) return;
      task.meta.breakwater ??= { findings: [], secrets: [] };
      task.meta.breakwater.secrets.push(...pendingSecrets.splice(0));
    },
    report(task, f, opts) {
      const severity = profile.severity?.[f.check] ?? f.severity;
      const finding: Finding = {
        ...f,
        id: findingId(f.check, f.subject),
        severity,
        excerpt: f.excerpt ? redactor.redact(f.excerpt).slice(0, 2000) : undefined,
        observed: redactor.redact(f.observed),
        reproduce: {
          ...f.reproduce,
          command: f.reproduce?.command ?? `npx breakwater run --tier ${run.tier} --suite ${f.suite}`,
        },
      };
      task.meta.breakwater ??= { findings: [], secrets: [] };
      if (opts?.unconfirmed) (task.meta.breakwater.unconfirmed ??= []).push({ ...finding, unconfirmed: redactor.redact(opts.unconfirmed) });
      else task.meta.breakwater.findings.push(finding);
      task.meta.breakwater.secrets.push(...pendingSecrets.splice(0));
      return finding;
    },
  };
}

/**
 * The suite's view of the run. Call once at the top of a suite file:
 * `const target = await useTarget()`. Cached per worker.
 */
export function useTarget(): Promise<TargetContext> {
  cached ??= build();
  return cached;
}

/** Formats findings into one assertion message. */
export function describeFindings(findings: Finding[]): string {
  return findings.map((f) => `[${f.severity}] ${f.check} ${f.subject}: observed ${f.observed}, expected ${f.expected}`).join('\n');
}
