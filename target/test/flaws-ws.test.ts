import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from './support/infra.ts';
import { issuerOf, seeder, seedWorkspace, tokenIssuer, userToken, TEST_JWT_SECRET, type Seeder, type Workspace } from './support/seed.ts';
import { freshDatabase, startTarget, type RunningTarget } from './support/target.ts';
import { burst, SocketPool, type Frame } from './support/ws-client.ts';

/**
 * Every WebSocket flaw switch, shown both ways: the clean target behaves, the
 * target with exactly that switch on shows the regression.
 */

const RATE = { SOCKET_RATE_BURST: '5', SOCKET_RATE_PER_SECOND: '1' };
const IN_PROCESS_FLAWS = ['ws-room-leak', 'no-socket-rate-limit', 'rate-limit-per-connection', 'no-payload-cap', 'rtc-no-shape-check'] as const;
type InProcessFlaw = (typeof IN_PROCESS_FLAWS)[number];

interface Instance {
  target: RunningTarget;
  db: Seeder;
  w: Workspace;
}

let clean: Instance;
const flawed = {} as Record<InProcessFlaw, Instance>;
const sockets = new SocketPool();

async function instance(flaws: string[]): Promise<Instance> {
  const target = await startTarget({ flaws, env: RATE });
  const db = seeder(target.databaseUrl);
  return { target, db, w: await seedWorkspace(db) };
}

beforeAll(async () => {
  const started = await Promise.all([instance([]), ...IN_PROCESS_FLAWS.map((f) => instance([f]))]);
  clean = started[0]!;
  IN_PROCESS_FLAWS.forEach((f, i) => (flawed[f] = started[i + 1]!));
});

afterAll(async () => {
  await sockets.closeAll();
  const all = [clean, ...Object.values(flawed)].filter(Boolean);
  await Promise.all(all.map((i) => i.db.close()));
  await Promise.all(all.map((i) => i.target.close()));
});

const connect = async (i: Instance, userId: string) => sockets.open(i.target.wsUrl, await userToken(issuerOf(i.target), userId));

async function freshMember(i: Instance): Promise<string> {
  const id = await i.db.user();
  await i.db.member(i.w.tenantId, id, 'member');
  return id;
}

const isMessage = (channelId: string, body: string) => (f: Frame) => f.type === 'message' && f.channelId === channelId && f.message?.body === body;

describe('ws-room-leak', () => {
  /** Whether a socket subscribed only to the public channel saw a message of the private channel. */
  async function leaks(i: Instance): Promise<boolean> {
    const [sender, reader] = await Promise.all([connect(i, i.w.owner), connect(i, i.w.member)]);
    await reader.request({ type: 'subscribe', channelId: i.w.publicChannel });
    expect(await sender.request({ type: 'message.send', channelId: i.w.privateChannel, body: 'secret' })).toMatchObject({ type: 'ack' });
    expect(await sender.request({ type: 'message.send', channelId: i.w.publicChannel, body: 'barrier' })).toMatchObject({ type: 'ack' });
    await reader.waitFor(isMessage(i.w.publicChannel, 'barrier'), 'barrier');
    return reader.frames.some(isMessage(i.w.privateChannel, 'secret'));
  }

  it('clean: only subscribers of a channel get its events', async () => expect(await leaks(clean)).toBe(false));
  it('flawed: a non-member gets private channel messages', async () => expect(await leaks(flawed['ws-room-leak'])).toBe(true));
});

describe('no-socket-rate-limit', () => {
  const rejectedOfFifteen = async (i: Instance) => (await burst(await connect(i, await freshMember(i)), 15)).rateLimited;

  it('clean: frames past the burst of 5 are rejected', async () => expect(await rejectedOfFifteen(clean)).toBeGreaterThanOrEqual(9));
  it('flawed: nothing is ever rejected', async () => expect(await rejectedOfFifteen(flawed['no-socket-rate-limit'])).toBe(0));
});

describe('rate-limit-per-connection', () => {
  /** Rejections when one user spends a full burst on each of three connections. */
  async function rejectedAcrossConnections(i: Instance): Promise<number> {
    const user = await freshMember(i);
    const conns = await Promise.all([connect(i, user), connect(i, user), connect(i, user)]);
    const results = await Promise.all(conns.map((c) => burst(c, 5)));
    return results.reduce((n, r) => n + r.rateLimited, 0);
  }

  /** Whether the first frame after a reconnect is rejected, once the previous connection exhausted the bucket. */
  async function limitedAfterReconnect(i: Instance): Promise<boolean> {
    const user = await freshMember(i);
    const first = await connect(i, user);
    expect((await burst(first, 6)).rateLimited).toBeGreaterThanOrEqual(1);
    await first.close();
    return (await burst(await connect(i, user), 1)).rateLimited === 1;
  }

  it('clean: the budget is per user, across connections and reconnects', async () => {
    expect(await rejectedAcrossConnections(clean)).toBeGreaterThanOrEqual(15 - 5 - 1);
    expect(await limitedAfterReconnect(clean)).toBe(true);
  });

  it('flawed: every connection gets a fresh budget', async () => {
    expect(await rejectedAcrossConnections(flawed['rate-limit-per-connection'])).toBe(0);
    expect(await limitedAfterReconnect(flawed['rate-limit-per-connection'])).toBe(false);
  });
});

describe('no-payload-cap', () => {
  const preset = (kib: number) => ({ name: 'big', data: { blob: 'x'.repeat(kib * 1024) } });

  it('clean: a 100 KiB preset is refused and a 300 KiB frame closes the socket with 1009', async () => {
    const s = await connect(clean, clean.w.owner);
    expect(await s.request({ type: 'preset.share', channelId: clean.w.publicChannel, preset: preset(100) })).toMatchObject({ code: 'payload_too_large' });
    s.send({ type: 'preset.share', channelId: clean.w.publicChannel, preset: preset(300) });
    expect((await s.closed()).code).toBe(1009);
  });

  it('flawed: both are accepted and fanned out', async () => {
    const i = flawed['no-payload-cap'];
    const s = await connect(i, i.w.owner);
    expect(await s.request({ type: 'preset.share', channelId: i.w.publicChannel, preset: preset(100) })).toMatchObject({ type: 'ack' });
    expect(await s.request({ type: 'preset.share', channelId: i.w.publicChannel, preset: preset(300) })).toMatchObject({ type: 'ack' });
  });
});

describe('rtc-no-shape-check', () => {
  const junk = { kind: 'exploit', html: '<img src=x onerror=alert(1)>', nested: { deep: [1, 2, 3] } };

  /** The reply to a junk signal and whether the peer received it. */
  async function relayJunk(i: Instance): Promise<{ reply: Frame; relayed: boolean }> {
    const [caller, callee] = await Promise.all([connect(i, i.w.owner), connect(i, i.w.member)]);
    const reply = await caller.request({ type: 'rtc.signal', channelId: i.w.publicChannel, to: i.w.member, signal: junk });
    const valid = { kind: 'offer', sdp: 'v=0' };
    expect(await caller.request({ type: 'rtc.signal', channelId: i.w.publicChannel, to: i.w.member, signal: valid })).toMatchObject({ type: 'ack' });
    await callee.waitFor((f) => f.type === 'rtc.signal' && f.signal?.kind === 'offer', 'valid signal');
    return { reply, relayed: callee.frames.some((f) => f.type === 'rtc.signal' && f.signal?.kind === 'exploit') };
  }

  it('clean: a malformed signal is refused and never reaches the peer', async () => {
    const { reply, relayed } = await relayJunk(clean);
    expect(reply).toMatchObject({ type: 'error', code: 'validation_failed' });
    expect(relayed).toBe(false);
  });

  it('flawed: any signal value is relayed', async () => {
    const { reply, relayed } = await relayJunk(flawed['rtc-no-shape-check']);
    expect(reply).toMatchObject({ type: 'ack' });
    expect(relayed).toBe(true);
  });
});

describe('crash-on-malformed-frame', () => {
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

  interface ChildTarget {
    child: ChildProcess;
    url: string;
    wsUrl: string;
    exited: Promise<number | null>;
    stderr: string[];
  }

  const children: ChildTarget[] = [];
  let crashing: ChildTarget;
  let sturdy: ChildTarget;
  let w: Workspace;
  let db: Seeder;

  /** Runs the target as its own process, the only way to watch it die without taking the test worker along. */
  async function spawnTarget(databaseUrl: string, flaws: string): Promise<ChildTarget> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'target/src/main.ts'], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: databaseUrl,
        REDIS_URL: inject('targetInfra').redisUrl,
        JWT_SECRET: TEST_JWT_SECRET,
        PORT: String(port),
        HOST: '127.0.0.1',
        TARGET_FLAWS: flaws,
        LOG_LEVEL: 'warn',
      },
    });
    const stderr: string[] = [];
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started: ChildTarget = { child, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws`, exited, stderr };
    children.push(started);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`target (${flaws || 'clean'}) exited during start: ${stderr.join('')}`);
      if (await healthy(started)) return started;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`target (${flaws || 'clean'}) not healthy within 30 s: ${stderr.join('')}`);
  }

  async function healthy(t: ChildTarget): Promise<boolean> {
    try {
      return (await fetch(`${t.url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false;
    }
  }

  function kill(t: ChildTarget): Promise<void> {
    if (t.child.exitCode !== null || t.child.signalCode !== null) return Promise.resolve();
    const timer = setTimeout(() => t.child.kill('SIGKILL'), 5000);
    t.child.kill('SIGTERM');
    return t.exited.then(() => clearTimeout(timer));
  }

  beforeAll(async () => {
    const databaseUrl = await freshDatabase();
    [crashing, sturdy] = await Promise.all([spawnTarget(databaseUrl, 'crash-on-malformed-frame'), spawnTarget(databaseUrl, '')]);
    db = seeder(databaseUrl);
    w = await seedWorkspace(db);
  });

  afterAll(async () => {
    await sockets.closeAll();
    await Promise.all(children.map(kill));
    await db?.close();
  });

  it('clean: a non-JSON frame gets bad_frame and the process stays up', async () => {
    const s = await sockets.open(sturdy.wsUrl, await userToken(tokenIssuer(), w.member));
    s.send('{"type": "subscribe", ');
    expect(await s.waitFor((f) => f.type === 'error', 'bad_frame')).toMatchObject({ code: 'bad_frame' });
    expect(await s.request({ type: 'subscribe', channelId: w.publicChannel })).toMatchObject({ type: 'subscribed' });
    expect(await healthy(sturdy)).toBe(true);
    expect(sturdy.child.exitCode).toBeNull();
  });

  it('flawed: one non-JSON frame kills the process', async () => {
    const s = await sockets.open(crashing.wsUrl, await userToken(tokenIssuer(), w.member));
    expect(await s.request({ type: 'subscribe', channelId: w.publicChannel })).toMatchObject({ type: 'subscribed' });
    s.send('{"type": "subscribe", ');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([crashing.exited, new Promise<'alive'>((r) => (timer = setTimeout(() => r('alive'), 3000)))]);
    clearTimeout(timer);
    expect(code).not.toBe('alive');
    expect(code).not.toBe(0);
    expect(crashing.stderr.join('')).toMatch(/SyntaxError/);
    expect(await healthy(crashing)).toBe(false);
  });
});
