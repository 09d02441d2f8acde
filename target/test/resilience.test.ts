import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError } from '../src/errors.ts';
import { startOwnRedis, type OwnRedis } from './support/own-redis.ts';
import { lockTable, requestWithin, sleep, storedMessageIds, within } from './support/probe.ts';
import { migratedDatabase } from './support/migrated-database.ts';
import { seed, type Seeded } from './support/seed.ts';
import { startTarget, type RunningTarget } from './support/target.ts';

// The clean side of every resilience flaw; flaws-resilience.test.ts holds the flawed side.
const TIMEOUT_MS = 500;
let clean: RunningTarget;
let cleanDefaults: RunningTarget;
let onOwnRedis: RunningTarget;
let redis: OwnRedis;
let user: Seeded;
let userDefaults: Seeded;

beforeAll(async () => {
  const [ownRedis, db1, db2] = await Promise.all([startOwnRedis(), migratedDatabase(), migratedDatabase()]);
  redis = ownRedis;
  [clean, cleanDefaults, onOwnRedis] = await Promise.all([
    startTarget({ databaseUrl: db1, env: { DEPENDENCY_TIMEOUT_MS: String(TIMEOUT_MS) } }),
    startTarget(),
    startTarget({ databaseUrl: db2, env: { REDIS_URL: redis.url, DEPENDENCY_TIMEOUT_MS: String(TIMEOUT_MS) } }),
  ]);
  [user, userDefaults] = await Promise.all([seed(clean), seed(cleanDefaults)]);
});

afterAll(async () => {
  await Promise.allSettled([clean?.close(), cleanDefaults?.close(), onOwnRedis?.close()]);
  await redis?.stop();
});

const postMessage = (t: RunningTarget, u: Seeded, body: string, ms: number) =>
  requestWithin(
    `${t.url}/tenants/${u.tenantId}/channels/${u.channelId}/messages`,
    { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${u.token}` }, body: JSON.stringify({ body }) },
    ms,
  );

describe('ack-before-commit (clean)', () => {
  it('does not acknowledge a message it could not commit, and every acknowledged message is stored', async () => {
    const lock = await lockTable(clean.databaseUrl, 'messages');
    const acked: string[] = [];
    let failure: unknown;
    try {
      const msg = await clean.app.services.messages.create(user.principal, user.channel, `locked ${randomUUID()}`, null);
      acked.push(msg.id);
    } catch (err) {
      failure = err;
    } finally {
      await sleep(TIMEOUT_MS * 2);
      await lock.release();
    }
    expect(failure).toBeInstanceOf(HttpError);
    expect(failure).toMatchObject({ status: 503, code: 'dependency_unavailable' });
    acked.push((await clean.app.services.messages.create(user.principal, user.channel, 'after the lock', null)).id);
    const stored = await storedMessageIds(clean.databaseUrl, acked);
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  });
});

describe('no-db-timeout (clean)', () => {
  it('answers 503 dependency_unavailable with Retry-After within 2 s while messages are locked (default timeout)', async () => {
    const lock = await lockTable(cleanDefaults.databaseUrl, 'messages');
    try {
      const started = Date.now();
      const res = await postMessage(cleanDefaults, userDefaults, 'while locked', 3000);
      const elapsed = Date.now() - started;
      expect(res).not.toBe('pending');
      const r = res as Response;
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(await r.json()).toMatchObject({ error: 'dependency_unavailable' });
      expect(elapsed).toBeLessThan(2000);
    } finally {
      await lock.release();
    }
  });

  it('serves the same request once the lock is gone', async () => {
    const res = (await postMessage(cleanDefaults, userDefaults, 'unlocked', 3000)) as Response;
    expect(res.status).toBe(201);
  });
});

describe('no-redis-reconnect (clean) and readiness', () => {
  it('reports 503 on /readyz while its Redis is down and 200 again within 5 s after Redis returns', async () => {
    expect((await fetch(`${onOwnRedis.url}/readyz`)).status).toBe(200);
    await redis.kill();
    const down = await fetch(`${onOwnRedis.url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'not_ready', postgres: 'ok', redis: 'down' });
    await sleep(1000);
    await redis.restart();
    const recoveredAfter = await within(5000, async () => (await fetch(`${onOwnRedis.url}/readyz`)).status === 200);
    expect(recoveredAfter).not.toBeNull();
  });
});

describe('token-in-logs (clean)', () => {
  it('never writes a token or password to the logs: login, Authorization header, ?token= URL', async () => {
    const email = `logs-${randomUUID()}@example.test`;
    const password = `pw-${randomUUID()}`;
    const reg = await fetch(`${clean.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, displayName: 'Logs' }),
    });
    expect(reg.status).toBe(201);
    const login = await fetch(`${clean.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    expect(login.status).toBe(200);
    const { accessToken } = (await login.json()) as { accessToken: string };
    expect((await fetch(`${clean.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(200);
    await fetch(`${clean.url}/ws?token=${accessToken}`);
    await sleep(100);
    const logs = clean.logs.join('\n');
    expect(logs).toContain('/ws?token=');
    expect(logs).not.toContain(accessToken);
    expect(logs).not.toContain(password);
  });
});

describe('operations endpoints', () => {
  it('/healthz answers 200', async () => {
    const res = await fetch(`${clean.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 with both dependencies up', async () => {
    const res = await fetch(`${clean.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', postgres: 'ok', redis: 'ok' });
  });

  it('/metrics exposes the request, rate-limit and delivery metrics in Prometheus text format', async () => {
    await fetch(`${clean.url}/healthz`);
    const res = await fetch(`${clean.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    for (const name of ['http_request_duration_seconds', 'rate_limit_rejections_total', 'ws_deliveries_total', 'ws_connections', 'dependency_errors_total']) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text).toMatch(/^http_request_duration_seconds_count\{[^}]*route="\/healthz"[^}]*\} \d+/m);
  });

  it('/openapi.json is an OpenAPI 3 document', async () => {
    const res = await fetch(`${clean.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, { responses?: object }>> };
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    expect(doc.paths['/previews']?.post).toBeDefined();
    for (const [path, ops] of Object.entries(doc.paths)) {
      expect(path.startsWith('/'), path).toBe(true);
      for (const method of Object.keys(ops)) expect(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace', 'parameters', 'summary', 'description', 'servers']).toContain(method);
    }
    expect(doc.paths['/healthz']).toBeUndefined();
  });
});
