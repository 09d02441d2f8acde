import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { resolveTarget } from '../../harness/config/resolve-target.ts';
import profile, { type ChatWorld } from '../../profiles/reference-chat.ts';
import { freePort, startInfra, type Infra } from '../../target/test/support/infra.ts';
import { runMatrix, type MatrixRun } from '../helpers/authz-matrix.ts';

/**
 * The reference profile against the real reference target, started as its own
 * process: seed, every login, every create(), then every principal × resource ×
 * operation cell against the policy, and the realtime rooms. On the clean
 * target every cell holds; each authz flaw switch flips at least one.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AUTHZ_FLAWS = ['message-edit-any-author', 'channel-read-cross-tenant', 'admin-demote-parse', 'bot-scope-ignored', 'upload-no-membership'];

interface App {
  url: string;
  stop(): Promise<void>;
}

async function startApp(infra: Infra, flaws: string[]): Promise<App> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'target/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: infra.databaseUrl,
      REDIS_URL: infra.redisUrl,
      JWT_SECRET: randomBytes(24).toString('hex'),
      LOG_LEVEL: 'warn',
      TARGET_FLAWS: flaws.join(','),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`reference target (flaws: ${flaws.join(',') || 'none'}) did not become ready: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop };
}

describe('reference-chat profile against the live reference target', () => {
  let infra: Infra | undefined;
  const apps: App[] = [];
  const runs = new Map<string, MatrixRun<ChatWorld>>();

  beforeAll(async () => {
    resolveTarget(profile);
    infra = await startInfra();
    // One instance per flaw set, all on one database and Redis: runs use distinct run ids.
    const sets = [[], ...AUTHZ_FLAWS.map((f) => [f])];
    const settled = await Promise.allSettled(sets.map((flaws) => startApp(infra!, flaws)));
    for (const s of settled) if (s.status === 'fulfilled') apps.push(s.value);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const done = await Promise.all(apps.map((app) => runMatrix(profile, app.url, `live-${randomBytes(4).toString('hex')}`)));
    sets.forEach((flaws, i) => runs.set(flaws[0] ?? 'clean', done[i]!));
  }, 90_000);

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await infra?.stop();
  });

  test('seed returns a JSON-serialisable world', () => {
    const { world } = runs.get('clean')!;
    expect(JSON.parse(JSON.stringify(world))).toEqual(world);
  });

  test('on the clean target every cell matches the policy', () => {
    const run = runs.get('clean')!;
    expect(run.cells.length).toBeGreaterThan(100);
    expect(run.cells.filter((c) => c.expected === 'allow').length).toBeGreaterThan(20);
    expect(run.mismatches).toEqual([]);
  });

  test('every principal joins exactly the rooms it is a member of, and a sent message is delivered', async () => {
    const url = apps[0]!.url;
    const world = runs.get('clean')!.world;
    const rt = profile.realtime!;
    const users = Object.keys(profile.principals).filter((n) => profile.principals[n]!.kind === 'user');
    const sockets = new Map<string, WebSocket>();
    try {
      for (const n of users) {
        const creds = await profile.principals[n]!.login({ baseUrl: url, world, runId: 'rt' });
        const ws = new WebSocket(url.replace(/^http/, 'ws') + rt.path, { headers: creds.headers });
        sockets.set(n, ws);
        await once(ws, 'open');
      }
      const reply = (ws: WebSocket) => once(ws, 'message').then(([d]) => JSON.parse(String(d)));
      const outcomes: string[] = [];
      for (const room of rt.rooms(world)) {
        for (const n of users) {
          const ws = sockets.get(n)!;
          const next = reply(ws);
          ws.send(JSON.stringify(rt.join.frame(room)));
          const f = await next;
          const got = rt.join.accepted(f, room) ? 'joined' : rt.join.refused(f, room) ? 'refused' : `unrecognised ${JSON.stringify(f)}`;
          const want = room.members.includes(n) ? 'joined' : 'refused';
          if (got !== want) outcomes.push(`${n} ${room.key}: expected ${want}, got ${got}`);
        }
      }
      expect(outcomes).toEqual([]);

      const [room] = rt.rooms(world);
      const send = rt.events['message.send']!;
      const body = fc.sample(send.arbitrary, 1)[0];
      const receiver = sockets.get(room!.members[1]!)!;
      const delivered = new Promise<unknown>((resolve) => receiver.on('message', (d) => send.delivered!(JSON.parse(String(d))) === body && resolve(body)));
      sockets.get(room!.members[0]!)!.send(JSON.stringify(send.frame(room!, body)));
      expect(await delivered).toBe(body);
    } finally {
      for (const ws of sockets.values()) ws.close();
    }
  });

  test.each(AUTHZ_FLAWS)('%s flips at least one cell', (flaw) => {
    expect(runs.get(flaw)!.mismatches.length, `no cell caught ${flaw}`).toBeGreaterThan(0);
  });
});
