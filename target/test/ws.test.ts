import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botToken, issuerOf, seeder, seedWorkspace, userToken, type Seeder, type Workspace } from './support/seed.ts';
import { startOwnRedis, type OwnRedis } from './support/own-redis.ts';
import { startTarget, type RunningTarget } from './support/target.ts';
import { burst, SocketPool, upgradeStatus, type Frame, type TestSocket } from './support/ws-client.ts';

const RATE = { SOCKET_RATE_BURST: '6', SOCKET_RATE_PER_SECOND: '1' };
/** The functional tests share a few users; their budget must not run out mid-file. */
const ROOMY = { SOCKET_RATE_BURST: '500', SOCKET_RATE_PER_SECOND: '100' };

let a: RunningTarget;
let b: RunningTarget;
let limited: RunningTarget;
/** An instance on a Redis of its own, which the fail-closed test kills. */
let fragile: RunningTarget;
let fragileRedis: OwnRedis;
let db: Seeder;
let limitedDb: Seeder;
let w: Workspace;
const sockets = new SocketPool();

beforeAll(async () => {
  fragileRedis = await startOwnRedis();
  [a, limited, fragile] = await Promise.all([
    startTarget({ env: ROOMY }),
    startTarget({ env: RATE }),
    startTarget({ env: { REDIS_URL: fragileRedis.url } }),
  ]);
  b = await startTarget({ databaseUrl: a.databaseUrl, env: ROOMY });
  db = seeder(a.databaseUrl);
  limitedDb = seeder(limited.databaseUrl);
  w = await seedWorkspace(db);
});

afterAll(async () => {
  await sockets.closeAll();
  await Promise.all([db?.close(), limitedDb?.close()]);
  await Promise.all([a?.close(), b?.close(), limited?.close(), fragile?.close()]);
  await fragileRedis?.stop();
});

async function connect(userId: string, target: RunningTarget = a): Promise<TestSocket> {
  return sockets.open(target.wsUrl, await userToken(issuerOf(target), userId));
}

/** A fresh tenant member, so rate-limit budgets of different tests never mix. */
async function freshMember(seed: Seeder = db, tenantId = w.tenantId): Promise<string> {
  const id = await seed.user();
  await seed.member(tenantId, id, 'member');
  return id;
}

const isMessage = (channelId: string, body: string) => (f: Frame) => f.type === 'message' && f.channelId === channelId && f.message?.body === body;

describe('subscribe', () => {
  it('lets a member subscribe to a public channel and echoes ref', async () => {
    const s = await connect(w.member);
    const reply = await s.request({ type: 'subscribe', channelId: w.publicChannel });
    expect(reply).toMatchObject({ type: 'subscribed', channelId: w.publicChannel });
    expect(reply.ref).toMatch(/^r\d+$/);
  });

  it('refuses private channels to non-members, guests, other tenants and unknown channels alike', async () => {
    const member = await connect(w.member);
    const guest = await connect(w.guest);
    const outsider = await connect(w.outsider);
    const replies = await Promise.all([
      member.request({ type: 'subscribe', channelId: w.privateChannel }),
      guest.request({ type: 'subscribe', channelId: w.publicChannel }),
      outsider.request({ type: 'subscribe', channelId: w.publicChannel }),
      outsider.request({ type: 'subscribe', channelId: '7f1d7a52-5c5e-4a43-9a8e-3a1f0b0c0d0e' }),
    ]);
    for (const r of replies) expect(r).toMatchObject({ type: 'error', code: 'forbidden' });
  });
});

describe('message.send', () => {
  it('acknowledges only after the row is committed, and subscribers get the message', async () => {
    const [sender, reader] = await Promise.all([connect(w.owner), connect(w.member)]);
    await reader.request({ type: 'subscribe', channelId: w.publicChannel });
    const ack = await sender.request({ type: 'message.send', channelId: w.publicChannel, body: 'committed?', clientId: 'c-1' });
    expect(ack).toMatchObject({ type: 'ack', messageId: expect.any(String) });
    const { rows } = await db.query('SELECT body, author_id FROM messages WHERE id = $1', [ack.messageId]);
    expect(rows).toEqual([{ body: 'committed?', author_id: w.owner }]);
    const delivered = await reader.waitFor(isMessage(w.publicChannel, 'committed?'), 'message');
    expect(delivered.message).toMatchObject({ id: ack.messageId, authorId: w.owner, channelId: w.publicChannel });
  });

  it('rejects invalid frames with validation_failed and unreadable channels with forbidden', async () => {
    const s = await connect(w.member);
    expect(await s.request({ type: 'message.send', channelId: w.publicChannel, body: '' })).toMatchObject({ code: 'validation_failed' });
    expect(await s.request({ type: 'message.send', channelId: 'not-a-uuid', body: 'x' })).toMatchObject({ code: 'validation_failed' });
    expect(await s.request({ type: 'message.send', channelId: w.privateChannel, body: 'x' })).toMatchObject({ code: 'forbidden' });
  });
});

describe('fan-out', () => {
  it('delivers channel events only to that channel’s subscribers', async () => {
    const [sender, privateReader, publicReader] = await Promise.all([connect(w.owner), connect(w.owner), connect(w.member)]);
    await privateReader.request({ type: 'subscribe', channelId: w.privateChannel });
    await publicReader.request({ type: 'subscribe', channelId: w.publicChannel });
    expect(await sender.request({ type: 'message.send', channelId: w.privateChannel, body: 'private fan-out' })).toMatchObject({ type: 'ack' });
    expect(await sender.request({ type: 'message.send', channelId: w.publicChannel, body: 'public barrier' })).toMatchObject({ type: 'ack' });
    await privateReader.waitFor(isMessage(w.privateChannel, 'private fan-out'), 'private message');
    // Both events travel the same Redis channel in order, so once the barrier arrived the private one would have too.
    await publicReader.waitFor(isMessage(w.publicChannel, 'public barrier'), 'barrier');
    expect(publicReader.frames.filter((f) => f.channelId === w.privateChannel)).toEqual([]);
  });

  it('delivers across two instances sharing a database through Redis', async () => {
    const readerOnA = await connect(w.member, a);
    const senderOnB = await connect(w.owner, b);
    await readerOnA.request({ type: 'subscribe', channelId: w.publicChannel });
    await senderOnB.request({ type: 'message.send', channelId: w.publicChannel, body: 'from b' });
    const got = await readerOnA.waitFor(isMessage(w.publicChannel, 'from b'), 'message from instance b');
    expect(got.message.authorId).toBe(w.owner);
  });

  it('sends typing to the other subscribers but not back to the sender', async () => {
    const [typist, reader] = await Promise.all([connect(w.admin), connect(w.member)]);
    await Promise.all([typist.request({ type: 'subscribe', channelId: w.publicChannel }), reader.request({ type: 'subscribe', channelId: w.publicChannel })]);
    typist.send({ type: 'typing', channelId: w.publicChannel });
    const typing = await reader.waitFor((f) => f.type === 'typing' && f.userId === w.admin, 'typing');
    expect(typing).toEqual({ type: 'typing', channelId: w.publicChannel, userId: w.admin });
    expect(await typist.request({ type: 'message.send', channelId: w.publicChannel, body: 'typing barrier' })).toMatchObject({ type: 'ack' });
    await typist.waitFor(isMessage(w.publicChannel, 'typing barrier'), 'barrier');
    expect(typist.frames.filter((f) => f.type === 'typing')).toEqual([]);
  });
});

describe('rtc.signal', () => {
  it('relays only to the named peer, who must be able to read the channel', async () => {
    const [caller, callee, bystander, outsider] = await Promise.all([connect(w.owner), connect(w.member), connect(w.admin), connect(w.outsider)]);
    const signal = { kind: 'offer', sdp: 'v=0\r\n' };
    expect(await caller.request({ type: 'rtc.signal', channelId: w.publicChannel, to: w.member, signal })).toMatchObject({ type: 'ack' });
    const relayed = await callee.waitFor((f) => f.type === 'rtc.signal', 'relayed signal');
    expect(relayed).toEqual({ type: 'rtc.signal', channelId: w.publicChannel, from: w.owner, signal });
    const ice = { kind: 'ice', candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    await caller.request({ type: 'rtc.signal', channelId: w.publicChannel, to: w.admin, signal: ice });
    await bystander.waitFor((f) => f.type === 'rtc.signal', 'signal for the bystander');
    expect(bystander.frames.filter((f) => f.type === 'rtc.signal').map((f) => f.signal)).toEqual([ice]);
    expect(callee.frames.filter((f) => f.type === 'rtc.signal')).toHaveLength(1);
    expect(await caller.request({ type: 'rtc.signal', channelId: w.publicChannel, to: w.outsider, signal })).toMatchObject({ code: 'forbidden' });
    expect(await caller.request({ type: 'rtc.signal', channelId: w.privateChannel, to: w.member, signal })).toMatchObject({ code: 'forbidden' });
    expect(outsider.frames).toEqual([]);
  });

  it('checks the signal shape and size strictly', async () => {
    const s = await connect(w.owner);
    const send = (signal: unknown) => s.request({ type: 'rtc.signal', channelId: w.publicChannel, to: w.member, signal });
    for (const bad of [
      { kind: 'offer', sdp: 'x', extra: 1 },
      { kind: 'offer' },
      { kind: 'ice', candidate: 'x', sdpMLineIndex: 65 },
      { kind: 'ice', candidate: 'x', sdpMid: 'm'.repeat(65) },
      { kind: 'ice', candidate: 'c'.repeat(2049) },
      { kind: 'bye' },
      'offer',
    ]) {
      expect(await send(bad), JSON.stringify(bad).slice(0, 80)).toMatchObject({ code: 'validation_failed' });
    }
    expect(await send({ kind: 'answer', sdp: 's'.repeat(16 * 1024) })).toMatchObject({ code: 'payload_too_large' });
  });
});

describe('preset.share', () => {
  it('shares presets up to 64 KiB and refuses larger ones', async () => {
    const [sharer, reader] = await Promise.all([connect(w.owner), connect(w.member)]);
    await reader.request({ type: 'subscribe', channelId: w.publicChannel });
    const fits = { name: 'fits', data: { blob: 'x'.repeat(60 * 1024) } };
    expect(await sharer.request({ type: 'preset.share', channelId: w.publicChannel, preset: fits })).toMatchObject({ type: 'ack' });
    const got = await reader.waitFor((f) => f.type === 'preset', 'preset');
    expect(got).toEqual({ type: 'preset', channelId: w.publicChannel, from: w.owner, preset: fits });
    const tooBig = { name: 'big', data: { blob: 'x'.repeat(65 * 1024) } };
    expect(await sharer.request({ type: 'preset.share', channelId: w.publicChannel, preset: tooBig })).toMatchObject({ code: 'payload_too_large' });
    expect(await sharer.request({ type: 'preset.share', channelId: w.publicChannel, preset: { name: 'n', data: [] } })).toMatchObject({ code: 'validation_failed' });
  });
});

describe('membership revocation', () => {
  it('stops delivery to a user removed from a private channel mid-connection', async () => {
    const insider = await freshMember();
    await db.channelMember(w.privateChannel, insider);
    const [sender, reader] = await Promise.all([connect(w.owner), connect(insider)]);
    await reader.request({ type: 'subscribe', channelId: w.privateChannel });
    await reader.request({ type: 'subscribe', channelId: w.publicChannel });
    expect(await sender.request({ type: 'message.send', channelId: w.privateChannel, body: 'before revocation' })).toMatchObject({ type: 'ack' });
    await reader.waitFor(isMessage(w.privateChannel, 'before revocation'), 'message before revocation');

    await db.removeChannelMember(w.privateChannel, insider);
    await a.app.services.bus.publish({ scope: { control: true }, tenantId: w.tenantId, event: { type: 'membership.revoked', channelId: w.privateChannel, userId: insider } });
    expect(await reader.waitFor((f) => f.type === 'unsubscribed', 'revocation notice')).toEqual({ type: 'unsubscribed', channelId: w.privateChannel, reason: 'revoked' });

    expect(await sender.request({ type: 'message.send', channelId: w.privateChannel, body: 'after revocation' })).toMatchObject({ type: 'ack' });
    expect(await sender.request({ type: 'message.send', channelId: w.publicChannel, body: 'revocation barrier' })).toMatchObject({ type: 'ack' });
    await reader.waitFor(isMessage(w.publicChannel, 'revocation barrier'), 'barrier');
    expect(reader.frames.some(isMessage(w.privateChannel, 'after revocation'))).toBe(false);
    expect(await reader.request({ type: 'subscribe', channelId: w.privateChannel })).toMatchObject({ code: 'forbidden' });
  });
});

describe('rate limit (burst 6, 1/s per user)', () => {
  const connectLimited = async (userId: string) => sockets.open(limited.wsUrl, await userToken(issuerOf(limited), userId));
  let tenantId: string;
  beforeAll(async () => {
    tenantId = await limitedDb.tenant();
  });

  it('rejects frames past the burst with rate_limited and retryAfterMs', async () => {
    const s = await connectLimited(await freshMember(limitedDb, tenantId));
    const { replies, rateLimited } = await burst(s, 7);
    expect(rateLimited).toBeGreaterThanOrEqual(1);
    expect(replies.find((f) => f.code === 'rate_limited')).toMatchObject({ type: 'error', retryAfterMs: expect.any(Number) });
    const metrics = await (await fetch(`${limited.url}/metrics`)).text();
    expect(metrics).toMatch(/rate_limit_rejections_total\{limiter="socket"\} [1-9]/);
  });

  it('holds across three connections of one user', async () => {
    const user = await freshMember(limitedDb, tenantId);
    const conns = await Promise.all([connectLimited(user), connectLimited(user), connectLimited(user)]);
    const results = await Promise.all(conns.map((c) => burst(c, 4)));
    const accepted = results.reduce((n, r) => n + r.replies.length - r.rateLimited, 0);
    expect(accepted).toBeLessThanOrEqual(6 + 1);
    expect(results.reduce((n, r) => n + r.rateLimited, 0)).toBeGreaterThanOrEqual(12 - 7);
  });

  it('holds across a reconnect', async () => {
    const user = await freshMember(limitedDb, tenantId);
    const first = await connectLimited(user);
    expect((await burst(first, 7)).rateLimited).toBeGreaterThanOrEqual(1);
    await first.close();
    const second = await connectLimited(user);
    expect((await burst(second, 1)).rateLimited).toBe(1);
  });

  it('closes the socket with 4429 after 50 rejections in a row', async () => {
    const s = await connectLimited(await freshMember(limitedDb, tenantId));
    for (let i = 0; i < 70; i++) s.send({ type: 'unsubscribe', channelId: w.publicChannel });
    expect((await s.closed()).code).toBe(4429);
  });
});

describe('connection auth', () => {
  it('answers a bad or missing token with HTTP 401 and accepts ?token=', async () => {
    expect(await upgradeStatus(a.wsUrl, 'not-a-jwt')).toBe(401);
    expect(await upgradeStatus(a.wsUrl, '')).toBe(401);
    const viaQuery = await sockets.open(a.wsUrl, await userToken(issuerOf(a), w.member), 'query');
    expect(await viaQuery.request({ type: 'subscribe', channelId: w.publicChannel })).toMatchObject({ type: 'subscribed' });
  });

  it('requires realtime to connect, messages:read to subscribe and messages:write to send', async () => {
    const issuer = issuerOf(a);
    const noRealtime = await db.bot(w.tenantId, w.owner, ['messages:read', 'messages:write']);
    expect(await upgradeStatus(a.wsUrl, await botToken(issuer, noRealtime, w.tenantId, ['messages:read', 'messages:write']))).toBe(403);

    const reader = await db.bot(w.tenantId, w.owner, ['realtime', 'messages:read']);
    const s = await sockets.open(a.wsUrl, await botToken(issuer, reader, w.tenantId, ['realtime', 'messages:read']));
    expect(await s.request({ type: 'subscribe', channelId: w.publicChannel })).toMatchObject({ type: 'subscribed' });
    expect(await s.request({ type: 'message.send', channelId: w.publicChannel, body: 'bot' })).toMatchObject({ code: 'forbidden' });

    const blind = await db.bot(w.tenantId, w.owner, ['realtime']);
    const t = await sockets.open(a.wsUrl, await botToken(issuer, blind, w.tenantId, ['realtime']));
    expect(await t.request({ type: 'subscribe', channelId: w.publicChannel })).toMatchObject({ code: 'forbidden' });
  });
});

describe('malformed frames', () => {
  it('answers bad_frame and keeps the connection usable', async () => {
    const s = await connect(w.member);
    s.send('not json {');
    s.send(Buffer.from([1, 2, 3]));
    s.send('[1,2]');
    s.send('null');
    s.send({ type: 'launch.missiles', ref: 'm1' });
    await s.waitFor((f) => f.ref === 'm1', 'reply to unknown type');
    const errors = s.frames.filter((f) => f.type === 'error');
    expect(errors.map((f) => f.code)).toEqual(['bad_frame', 'bad_frame', 'bad_frame', 'bad_frame', 'bad_frame']);
    expect(await s.request({ type: 'subscribe', channelId: w.publicChannel })).toMatchObject({ type: 'subscribed' });
  });

  it('closes with 1009 on a frame over 256 KiB', async () => {
    const s = await connect(w.member);
    s.send('x'.repeat(256 * 1024 + 1));
    expect((await s.closed()).code).toBe(1009);
  });
});

describe('rate limiter outage', () => {
  it('fails closed: while Redis is down every frame gets unavailable, and service resumes after', async () => {
    const fdb = seeder(fragile.databaseUrl);
    try {
      const fw = await seedWorkspace(fdb);
      const s = await sockets.open(fragile.wsUrl, await userToken(issuerOf(fragile), fw.member));
      expect(await s.request({ type: 'subscribe', channelId: fw.publicChannel })).toMatchObject({ type: 'subscribed' });
      await fragileRedis.kill();
      expect(await s.request({ type: 'unsubscribe', channelId: fw.publicChannel })).toMatchObject({ type: 'error', code: 'unavailable' });
      await fragileRedis.restart();
      const deadline = Date.now() + 3000;
      let reply = await s.request({ type: 'unsubscribe', channelId: fw.publicChannel });
      while (reply.type === 'error' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        reply = await s.request({ type: 'unsubscribe', channelId: fw.publicChannel });
      }
      expect(reply).toMatchObject({ type: 'unsubscribed' });
    } finally {
      await fdb.close();
    }
  });
});
