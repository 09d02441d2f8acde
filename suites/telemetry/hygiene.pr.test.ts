import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { describeFindings, fillPath, useTarget, type Credentials, type HttpExchange, type Severity } from '../../harness/index.ts';

/**
 * Telemetry hygiene: traffic that tempts a leaky service (every principal logs
 * in and reads what it may and may not, error paths are provoked, metrics are
 * scraped), then every captured service log, the metrics text and every error
 * body is searched for every secret of the run. The runner redacts the logs
 * after the run, so they are read here, while the run is still going.
 */
const target = await useTarget();
const SUITE = 'telemetry';

/** Time given to the services to flush their logs before they are read. */
const LOG_FLUSH_MS = 500;
/** Text kept on each side of a leaked secret in a finding's excerpt. */
const EXCERPT_CONTEXT = 160;
/** Values shorter than this would match ordinary text (the redactor ignores them too). */
const MIN_SECRET_LENGTH = 6;

const JWT = /^eyJ[\w-]+\.[\w-]+\.[\w-]*$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One value that must not appear anywhere, with what it is and whose it is. */
interface Secret {
  kind: string;
  value: string;
  severity: Severity;
  owner?: string;
}

/** A text a leak could sit in: a log file, the metrics page or an error body. */
interface Source {
  /** Names the source in finding subjects, e.g. `app log`, `metrics`, `error body`. */
  source: string;
  /** Which log file or request, for the excerpt. */
  where: string;
  text: string;
}

/** The credential values a principal presents: the bare token after a scheme such as `Bearer`, cookies and query values. */
function credentialSecrets(owner: string, cred: Credentials): Secret[] {
  const out: Secret[] = [];
  for (const [name, value] of Object.entries(cred.headers ?? {})) {
    const scheme = /^(\S+)\s+(\S+)$/.exec(value);
    if (scheme) out.push({ kind: `${scheme[1]!.toLowerCase()} token`, value: scheme[2]!, severity: 'critical', owner });
    else out.push({ kind: `${name.toLowerCase()} header`, value, severity: 'critical', owner });
  }
  for (const [name, value] of Object.entries(cred.cookies ?? {})) out.push({ kind: `${name} cookie`, value, severity: 'critical', owner });
  for (const [name, value] of Object.entries(cred.query ?? {})) out.push({ kind: `${name} query credential`, value, severity: 'critical', owner });
  return out;
}

/** Every secret of the run, each value once, the most specific kind first. */
function runSecrets(creds: Map<string, Credentials>): Secret[] {
  const all: Secret[] = [...creds].flatMap(([name, cred]) => credentialSecrets(name, cred));
  for (const [name, value] of Object.entries(target.run.stackSecrets)) all.push({ kind: `stack secret ${name}`, value, severity: 'critical' });
  for (const value of target.profile.secrets?.values ?? []) all.push({ kind: 'profile secret', value, severity: 'critical' });
  // Registered by seed() or the runner without a name: a JWT is the same kind of token the principals present when theirs are JWTs; the rest (passwords, keys) are run secrets.
  const jwtKind = all.find((s) => JWT.test(s.value))?.kind ?? 'token';
  for (const value of target.run.secrets) all.push({ kind: JWT.test(value) ? jwtKind : 'run secret', value, severity: 'critical' });
  for (const value of target.profile.secrets?.pii ?? []) all.push({ kind: 'PII', value, severity: 'high' });
  const seen = new Set<string>();
  return all.filter((s) => s.value.length >= MIN_SECRET_LENGTH && !seen.has(s.value) && (seen.add(s.value), true));
}

/** A token or cookie value with its last character changed: same shape, wrong signature. */
function tampered(value: string): string {
  const last = value.at(-1);
  return value.slice(0, -1) + (last === 'A' ? 'B' : 'A');
}

function tamperedCredentials(cred: Credentials): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(cred.headers ?? {})) headers[name] = value.replace(/(\S+)$/, (t) => tampered(t));
  const cookies = Object.entries(cred.cookies ?? {}).map(([name, value]) => `${name}=${tampered(value)}`);
  if (cookies.length) headers.cookie = cookies.join('; ');
  return headers;
}

/**
 * The excerpt around the first occurrence of `secret`: the whole line is
 * redacted before it is cut, so no other secret can survive half-cut.
 */
function excerptAround(text: string, secret: Secret, all: Secret[]): string {
  const at = text.indexOf(secret.value);
  const lineStart = text.lastIndexOf('\n', at) + 1;
  const lineEnd = text.indexOf('\n', at);
  let line = text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
  const marker = `[REDACTED ${secret.kind}]`;
  line = line.split(secret.value).join(marker);
  for (const s of [...all].sort((a, b) => b.value.length - a.value.length)) line = line.split(s.value).join('[REDACTED]');
  line = target.redactor.redact(line);
  const pos = line.indexOf(marker);
  const from = Math.max(0, pos - EXCERPT_CONTEXT);
  const to = Math.min(line.length, pos + marker.length + EXCERPT_CONTEXT);
  return `${from > 0 ? '…' : ''}${line.slice(from, to)}${to < line.length ? '…' : ''}`;
}

describe('telemetry hygiene', () => {
  test('no secret of the run appears in logs, metrics or error bodies', async ({ task }) => {
    const principals = target.principals.map((p) => p.name);
    const sources: Source[] = [];
    const errorBody = (ex: HttpExchange, label: string) => {
      if (ex.status >= 400 && ex.text) sources.push({ source: 'error body', where: `${label} → ${ex.status}`, text: ex.text });
    };

    // Act 1: every principal logs in.
    const creds = new Map<string, Credentials>();
    for (const name of principals) creds.set(name, await target.credentials(name));

    // Act 2: every read and list route of every resource, with every credential (allowed or not).
    const reads: Array<{ method: string; path: string; template: string; owner: string }> = [];
    let bodyRoute: { method: string; path: string; template: string; owner: string } | undefined;
    for (const [resource, def] of Object.entries(target.profile.resources)) {
      const routes = (['read', 'list'] as const).map((op) => def.operations[op]).filter((r) => r !== undefined);
      const writes = Object.values(def.operations).filter((r) => r && r.method !== 'GET' && r.method !== 'DELETE' && (!r.contentType || r.contentType === 'application/json'));
      if (routes.length === 0 && (bodyRoute || writes.length === 0)) continue;
      const instance = await target.createInstance(resource);
      for (const r of routes) reads.push({ method: r.method, path: fillPath(r.path, instance.params), template: r.path, owner: instance.owner });
      const w = writes[0];
      if (!bodyRoute && w) bodyRoute = { method: w.method, path: fillPath(w.path, instance.params), template: w.path, owner: instance.owner };
    }
    await Promise.all(
      principals.map(async (name) => {
        for (const r of reads) errorBody(await target.request(name, { method: r.method, path: r.path }), `${r.method} ${r.template} as ${name}`);
        const missing = `/__breakwater/missing/${randomUUID()}`;
        errorBody(await target.request(name, { method: 'GET', path: missing }), `GET ${missing} as ${name}`);
      }),
    );

    // Act 3: error paths: bad bodies, an unknown route, tampered credentials.
    if (bodyRoute) {
      const label = `${bodyRoute.method} ${bodyRoute.template} as ${bodyRoute.owner}`;
      errorBody(await target.request(bodyRoute.owner, { method: bodyRoute.method, path: bodyRoute.path, body: '{"breakwater": ', contentType: 'application/json; charset=utf-8' }), `${label} (malformed JSON)`);
      errorBody(await target.request(bodyRoute.owner, { method: bodyRoute.method, path: bodyRoute.path, body: [{ breakwater: ['not', 'the', 'expected', 'shape'] }] }), `${label} (wrong shape)`);
    }
    errorBody(await target.request(null, { method: 'GET', path: `/__breakwater/missing/${randomUUID()}` }), 'GET /__breakwater/missing/{id} anonymously');
    const probe = reads[0] ?? { method: 'GET', path: '/', template: '/' };
    for (const name of principals) {
      const headers = tamperedCredentials(creds.get(name)!);
      if (!Object.keys(headers).length) continue;
      errorBody(await target.request(null, { method: probe.method, path: probe.path, headers }), `${probe.method} ${probe.template} with ${name}'s tampered credentials`);
    }

    // Act 4: metrics, when the entry service has them.
    const metrics = await target.request(null, { method: 'GET', path: '/metrics' });
    if (metrics.status < 300) sources.push({ source: 'metrics', where: 'GET /metrics', text: metrics.text });
    else if (metrics.status !== 404) errorBody(metrics, 'GET /metrics anonymously');

    // Logs last, once the services have flushed what the traffic above made them write.
    await sleep(LOG_FLUSH_MS);
    for (const [service, info] of Object.entries(target.run.stack.services)) {
      if (info.logFile && existsSync(info.logFile)) sources.push({ source: `${service} log`, where: info.logFile, text: readFileSync(info.logFile, 'utf8') });
    }

    // Assert: one finding per (source, kind of secret).
    const secrets = runSecrets(creds);
    const bySourceAndKind = new Map<string, { source: string; secret: Secret; at: Source; owners: Set<string>; count: number }>();
    for (const src of sources) {
      for (const secret of secrets) {
        const count = src.text.split(secret.value).length - 1;
        if (count === 0) continue;
        const key = `${src.source}\0${secret.kind}`;
        const entry = bySourceAndKind.get(key) ?? { source: src.source, secret, at: src, owners: new Set<string>(), count: 0 };
        entry.count += count;
        if (secret.owner) entry.owners.add(secret.owner);
        bySourceAndKind.set(key, entry);
      }
    }
    for (const { source, secret, at, owners, count } of bySourceAndKind.values()) {
      const whose = owners.size ? ` of ${[...owners].sort().join(', ')}` : '';
      target.report(task, {
        check: 'telemetry.secret-leak',
        suite: SUITE,
        severity: secret.severity,
        title: `${secret.kind}${whose} written to the ${source}`,
        subject: `${source}: ${secret.kind}`,
        observed: `${count} occurrence(s) of the ${secret.kind}${whose} in the ${source}`,
        expected: 'no secret, credential or PII in logs, metrics or error bodies',
        excerpt: `${at.where}:\n${excerptAround(at.text, secret, secrets)}`,
      });
    }
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });
});
