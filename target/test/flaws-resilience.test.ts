import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnRedis, type OwnRedis } from './support/own-redis.ts';
import { lockTable, requestWithin, sleep, storedMessageIds, within } from './support/probe.ts';
import { migratedDatabase } from './support/migrated-database.ts';
import { seed, type Seeded } from './support/seed.ts';
import { startTarget, type RunningTarget } from './support/target.ts';

// The flawed side of every resilience flaw; resilience.test.ts shows the clean target passing the same checks.
const TIMEOUT_MS = 500;
let ackFlaw: RunningTarget;
let noDbTimeout: RunningTarget;
let noRedisReconnect: RunningTarget;
let tokenInLogs: RunningTarget;
let redis: OwnRedis;

beforeAll(async () => {
  const [ownRedis, ...dbs] = await Promise.all([startOwnRedis(), migratedDatabase(), migratedDatabase(), migratedDatabase(), migratedDatabase()]);
  redis = ownRedis;
  const env = { DEPENDENCY_TIMEOUT_MS: String(TIMEOUT_MS) };
  [ackFlaw, noDbTimeout, noRedisReconnect, tokenInLogs] = await Promise.all([
    startTarget({ databaseUrl: dbs[0], env, flaws: ['ack-before-commit'] }),
    startTarget({ databaseUrl: dbs[1], env, flaws: ['no-db-timeout'] }),
    startTarget({ databaseUrl: dbs[2], env: { ...env, REDIS_URL: redis.url }, flaws: ['no-redis-reconnect'] }),
    startTarget({ databaseUrl: dbs[3], env, flaws: ['token-in-logs'] }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([ackFlaw?.close(), noDbTimeout?.close(), noRedisReconnect?.close(), tokenInLogs?.close()]);
  await redis?.stop();
});

describe('ack-before-commit (flawed)', () => {
  it('acknowledges a message at once while the table is locked, and the acknowledged message is lost', async () => {
    const user: Seeded = await seed(ackFlaw);
    const lock = await lockTable(ackFlaw.databaseUrl, 'messages');
    let ackedId: string;
    try {
      const started = Date.now();
      const msg = await ackFlaw.app.services.messages.create(user.principal, user.channel, `locked ${randomUUID()}`, null);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS);
      ackedId = msg.id;
    } finally {
      // Longer than the dependency timeout, so the write that runs after the ack gives up.
      await sleep(TIMEOUT_MS * 2);
      await lock.release();
    }
    await sleep(200);
    const stored = await storedMessageIds(ackFlaw.databaseUrl, [ackedId]);
    expect(stored.has(ackedId)).toBe(false);
  });
});

describe('no-db-timeout (flawed)', () => {
  it('leaves a request that writes a message pending past 3 s while the table is locked', async () => {
    const user = await seed(noDbTimeout);
    const lock = await lockTable(noDbTimeout.databaseUrl, 'messages');
    try {
      const res = await requestWithin(
        `${noDbTimeout.url}/tenants/${user.tenantId}/channels/${user.channelId}/messages`,
        { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` }, body: JSON.stringify({ body: 'while locked' }) },
        3000,
      );
      expect(res).toBe('pending');
    } finally {
      await lock.release();
    }
  });
});

describe('no-redis-reconnect (flawed)', () => {
  it('stays not ready for 5 s after its Redis comes back', async () => {
    expect((await fetch(`${noRedisReconnect.url}/readyz`)).status).toBe(200);
    await redis.kill();
    expect((await fetch(`${noRedisReconnect.url}/readyz`)).status).toBe(503);
    await sleep(1000);
    await redis.restart();
    const recoveredAfter = await within(5000, async () => (await fetch(`${noRedisReconnect.url}/readyz`)).status === 200);
    expect(recoveredAfter).toBeNull();
  });
});

describe('token-in-logs (flawed)', () => {
  it('writes the access token to the logs', async () => {
    const email = `logs-${randomUUID()}@example.test`;
    const password = `pw-${randomUUID()}`;
    const reg = await fetch(`${tokenInLogs.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, displayName: 'Logs' }),
    });
    expect(reg.status).toBe(201);
    const login = await fetch(`${tokenInLogs.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    expect(login.status).toBe(200);
    const { accessToken } = (await login.json()) as { accessToken: string };
    await fetch(`${tokenInLogs.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    await fetch(`${tokenInLogs.url}/ws?token=${accessToken}`);
    await sleep(100);
    expect(tokenInLogs.logs.join('\n')).toContain(accessToken);
  });
});
