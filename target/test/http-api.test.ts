import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../src/bus.ts';
import { addMember, call, client, createChannel, createTenant, registerAndLogin, type HttpResult, type TestUser } from './support/http.ts';
import { startTarget, type RunningTarget } from './support/target.ts';

const LOGIN_LIMIT = 5;

let target: RunningTarget;
let url: string;

beforeAll(async () => {
  target = await startTarget({ env: { LOGIN_RATE_PER_MINUTE: String(LOGIN_LIMIT) } });
  url = target.url;
});
afterAll(async () => target?.close());

/** A tenant with an owner, an admin, two members and a guest, plus an outsider in another tenant. */
async function world() {
  const [owner, admin, alice, bob, guest, outsider] = await Promise.all(
    ['owner', 'admin', 'alice', 'bob', 'guest', 'outsider'].map((n) => registerAndLogin(url, { emailPrefix: n, displayName: `${n} ${randomUUID().slice(0, 4)}` })),
  );
  const tid = await createTenant(owner!);
  await addMember(owner!, tid, admin!, 'admin');
  await addMember(owner!, tid, alice!, 'member');
  await addMember(owner!, tid, bob!, 'member');
  await addMember(owner!, tid, guest!, 'guest');
  const otherTid = await createTenant(outsider!);
  return { owner: owner!, admin: admin!, alice: alice!, bob: bob!, guest: guest!, outsider: outsider!, tid, otherTid };
}

describe('auth', () => {
  it('registers, rejects a duplicate email, logs in and returns /me', async () => {
    const email = `reg-${randomUUID()}@example.test`;
    const reg = await call(url, 'POST', '/auth/register', { json: { email, password: 'long-enough-pw', displayName: 'Reg' } });
    expect(reg.status).toBe(201);
    expect(reg.body.userId).toMatch(/^[0-9a-f-]{36}$/);

    const dup = await call(url, 'POST', '/auth/register', { json: { email: email.toUpperCase(), password: 'long-enough-pw', displayName: 'Dup' } });
    expect(dup.status).toBe(409);

    const login = await call(url, 'POST', '/auth/login', { json: { email, password: 'long-enough-pw' } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 900, userId: reg.body.userId });

    const me = await client(url, login.body.accessToken).get('/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ userId: reg.body.userId, email, displayName: 'Reg', kind: 'user', tenants: [] });
  });

  it('rejects a wrong password with invalid_credentials and a missing or garbage token with 401', async () => {
    const u = await registerAndLogin(url);
    const bad = await call(url, 'POST', '/auth/login', { json: { email: u.email, password: 'wrong-password' } });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toBe('invalid_credentials');
    const unknown = await call(url, 'POST', '/auth/login', { json: { email: `nobody-${randomUUID()}@example.test`, password: 'whatever1' } });
    expect(unknown.status).toBe(401);
    expect((await client(url).get('/me')).status).toBe(401);
    expect((await client(url, 'not.a.jwt').get('/me')).status).toBe(401);
  });

  it('validates register input', async () => {
    const short = await call(url, 'POST', '/auth/register', { json: { email: `s-${randomUUID()}@example.test`, password: 'short', displayName: 'S' } });
    expect(short.status).toBe(400);
    expect(short.body.error).toBe('validation_failed');
    const notEmail = await call(url, 'POST', '/auth/register', { json: { email: 'not-an-email', password: 'long-enough-pw', displayName: 'S' } });
    expect(notEmail.body.error).toBe('validation_failed');
    const extra = await call(url, 'POST', '/auth/register', {
      json: { email: `e-${randomUUID()}@example.test`, password: 'long-enough-pw', displayName: 'S', admin: true },
    });
    expect(extra.status).toBe(400);
    expect(extra.body.error).toBe('validation_failed');
  });

  it('rate-limits login attempts per email with 429 and Retry-After', async () => {
    const u = await registerAndLogin(url);
    const statuses: number[] = [];
    let limited: HttpResult | undefined;
    // At most one minute boundary can fall inside the loop, so 2*limit+1 attempts always hit the limit.
    for (let i = 0; i < 2 * LOGIN_LIMIT + 1 && !limited; i++) {
      const res = await call(url, 'POST', '/auth/login', { json: { email: u.email, password: 'wrong-password' } });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses.slice(0, LOGIN_LIMIT - 1).every((s) => s === 401)).toBe(true);
    expect(limited?.body.error).toBe('rate_limited');
    const retryAfter = Number(limited?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const right = await call(url, 'POST', '/auth/login', { json: { email: u.email.toUpperCase(), password: u.password } });
    expect(right.status).toBe(429);
    const metrics = await call(url, 'GET', '/metrics');
    expect(metrics.body).toMatch(/rate_limit_rejections_total\{limiter="login"\} [1-9]/);
  });
});

describe('tenants and roles', () => {
  it('creates a tenant whose creator is owner, visible only to members', async () => {
    const w = await world();
    const got = await w.owner.api.get(`/tenants/${w.tid}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ tenantId: w.tid, name: expect.any(String), role: 'owner' });
    expect((await w.guest.api.get(`/tenants/${w.tid}`)).body.role).toBe('guest');
    const probe = await w.outsider.api.get(`/tenants/${w.tid}`);
    expect(probe.status).toBe(404);
    expect(probe.body.error).toBe('not_found');
    expect((await w.owner.api.get(`/tenants/${randomUUID()}`)).status).toBe(404);
    const me = await w.alice.api.get('/me');
    expect(me.body.tenants).toEqual([{ tenantId: w.tid, role: 'member' }]);
  });

  it('adds members: admin+ only, existing users only, no duplicates, only an owner grants admin', async () => {
    const w = await world();
    const newbie = await registerAndLogin(url);
    expect((await w.alice.api.post(`/tenants/${w.tid}/members`, { email: newbie.email, role: 'member' })).status).toBe(403);
    expect((await w.outsider.api.post(`/tenants/${w.tid}/members`, { email: newbie.email, role: 'member' })).status).toBe(404);
    expect((await w.admin.api.post(`/tenants/${w.tid}/members`, { email: newbie.email, role: 'admin' })).status).toBe(403);
    const added = await w.admin.api.post(`/tenants/${w.tid}/members`, { email: newbie.email, role: 'member' });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ userId: newbie.userId, role: 'member' });
    expect((await w.admin.api.post(`/tenants/${w.tid}/members`, { email: newbie.email, role: 'guest' })).status).toBe(409);
    expect((await w.admin.api.post(`/tenants/${w.tid}/members`, { email: `ghost-${randomUUID()}@example.test`, role: 'member' })).status).toBe(404);
    expect((await w.admin.api.post(`/tenants/${w.tid}/members`, { email: newbie.email, role: 'owner' })).body.error).toBe('validation_failed');
    expect((await newbie.api.get(`/tenants/${w.tid}`)).body.role).toBe('member');
  });

  it('keeps the member directory tenant-scoped and closed to guests', async () => {
    const w = await world();
    const marker = `zq${randomUUID().slice(0, 6)}`;
    const inside = await registerAndLogin(url, { displayName: `Inside ${marker}` });
    const outside = await registerAndLogin(url, { displayName: `Outside ${marker}` });
    await addMember(w.owner, w.tid, inside);
    await addMember(w.outsider, w.otherTid, outside);

    const all = await w.alice.api.get(`/tenants/${w.tid}/members`);
    expect(all.status).toBe(200);
    expect(all.body.items.map((i: { userId: string }) => i.userId).sort()).toEqual(
      [w.owner, w.admin, w.alice, w.bob, w.guest, inside].map((u) => u.userId).sort(),
    );
    const search = await w.alice.api.get(`/tenants/${w.tid}/members?q=${marker}`);
    expect(search.body.items).toEqual([{ userId: inside.userId, displayName: inside.displayName, email: inside.email, role: 'member' }]);
    const byEmail = await w.alice.api.get(`/tenants/${w.tid}/members?q=${encodeURIComponent(w.bob.email.toUpperCase())}`);
    expect(byEmail.body.items.map((i: { userId: string }) => i.userId)).toEqual([w.bob.userId]);
    expect((await w.alice.api.get(`/tenants/${w.tid}/members?q=%25`)).body.items).toEqual([]);
    expect((await w.guest.api.get(`/tenants/${w.tid}/members`)).status).toBe(403);
    expect((await w.outsider.api.get(`/tenants/${w.tid}/members?q=${marker}`)).status).toBe(404);
    expect((await w.alice.api.get(`/tenants/${w.tid}/members?bogus=1`)).body.error).toBe('validation_failed');
  });

  it('changes roles from a comma- or pipe-separated groups list', async () => {
    const w = await world();
    const path = (u: TestUser) => `/tenants/${w.tid}/members/${u.userId}/role`;
    const denied = await w.alice.api.put(path(w.bob), { groups: 'admin' });
    expect(denied.status).toBe(403);
    expect((await w.admin.api.put(path(w.bob), { groups: 'admin' })).status).toBe(403);
    expect((await w.admin.api.put(path(w.owner), { groups: 'member' })).status).toBe(403);
    expect((await w.owner.api.put(path(w.owner), { groups: 'member' })).status).toBe(403);
    expect((await w.owner.api.put(path(w.alice), { groups: 'owner' })).status).toBe(403);
    expect((await w.owner.api.put(path(w.outsider), { groups: 'member' })).status).toBe(404);

    const promoted = await w.owner.api.put(path(w.bob), { groups: 'Admin, ops' });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toEqual({ userId: w.bob.userId, role: 'admin', groups: ['ops'] });
    expect((await w.bob.api.get(`/tenants/${w.tid}`)).body.role).toBe('admin');

    const demoted = await w.owner.api.put(path(w.bob), { groups: 'member|ops' });
    expect(demoted.body).toEqual({ userId: w.bob.userId, role: 'member', groups: ['ops'] });
    expect((await w.bob.api.get(`/tenants/${w.tid}`)).body.role).toBe('member');

    const labelsOnly = await w.admin.api.put(path(w.guest), { groups: 'ops|oncall' });
    expect(labelsOnly.body).toEqual({ userId: w.guest.userId, role: 'member', groups: ['ops', 'oncall'] });
    expect((await w.admin.api.put(path(w.alice), { groups: 'guest' })).body.role).toBe('guest');
    expect((await w.alice.api.post(`/tenants/${w.tid}/channels`, { name: 'x' })).status).toBe(403);
    expect((await w.owner.api.put(path(w.alice), {})).body.error).toBe('validation_failed');
    expect((await w.owner.api.put(path(w.alice), { groups: { role: 'admin' } })).body.error).toBe('validation_failed');
  });

  it('suspends a user: every token stops working and login fails', async () => {
    const w = await world();
    expect((await w.alice.api.post(`/tenants/${w.tid}/members/${w.bob.userId}/suspend`)).status).toBe(403);
    expect((await w.admin.api.post(`/tenants/${w.tid}/members/${w.owner.userId}/suspend`)).status).toBe(403);
    expect((await w.bob.api.get('/me')).status).toBe(200);
    const res = await w.admin.api.post(`/tenants/${w.tid}/members/${w.bob.userId}/suspend`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ userId: w.bob.userId, suspended: true });
    expect((await w.bob.api.get('/me')).status).toBe(401);
    expect((await w.bob.api.get(`/tenants/${w.tid}/channels`)).status).toBe(401);
    expect((await call(url, 'POST', '/auth/login', { json: { email: w.bob.email, password: w.bob.password } })).status).toBe(401);
  });

  it('removes a member, who then gets 404 and loses channel membership', async () => {
    const w = await world();
    const cid = await createChannel(w.owner, w.tid, { private: true });
    expect((await w.owner.api.post(`/tenants/${w.tid}/channels/${cid}/members`, { userId: w.alice.userId })).status).toBe(201);
    const events: BusEvent[] = [];
    const off = target.app.services.bus.onEvent((e) => events.push(e));
    try {
      expect((await w.bob.api.delete(`/tenants/${w.tid}/members/${w.alice.userId}`)).status).toBe(403);
      expect((await w.admin.api.delete(`/tenants/${w.tid}/members/${w.owner.userId}`)).status).toBe(403);
      const del = await w.admin.api.delete(`/tenants/${w.tid}/members/${w.alice.userId}`);
      expect(del.status).toBe(204);
      expect((await w.alice.api.get(`/tenants/${w.tid}`)).status).toBe(404);
      expect((await w.admin.api.delete(`/tenants/${w.tid}/members/${w.alice.userId}`)).status).toBe(404);
      await expect.poll(() => events.map((e) => e.event)).toContainEqual({ type: 'membership.revoked', channelId: cid, userId: w.alice.userId });
    } finally {
      off();
    }
    await addMember(w.owner, w.tid, w.alice);
    expect((await w.alice.api.get(`/tenants/${w.tid}/channels/${cid}`)).status).toBe(404);
  });
});

describe('channels', () => {
  it('creates channels (not guests) and lists public ones plus the caller\'s own', async () => {
    const w = await world();
    const denied = await w.guest.api.post(`/tenants/${w.tid}/channels`, { name: 'guest-room' });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe('forbidden');
    expect((await w.outsider.api.post(`/tenants/${w.tid}/channels`, { name: 'x' })).status).toBe(404);

    const pub = await w.alice.api.post(`/tenants/${w.tid}/channels`, { name: 'general' });
    expect(pub.status).toBe(201);
    expect(pub.body).toEqual({ channelId: expect.any(String), name: 'general', private: false });
    const priv = await createChannel(w.alice, w.tid, { name: 'secret', private: true });
    const bobsPrivate = await createChannel(w.bob, w.tid, { name: 'bobs', private: true });

    const ids = async (u: TestUser) => (await u.api.get(`/tenants/${w.tid}/channels`)).body.items.map((c: { channelId: string }) => c.channelId).sort();
    expect(await ids(w.alice)).toEqual([pub.body.channelId, priv].sort());
    expect(await ids(w.bob)).toEqual([pub.body.channelId, bobsPrivate].sort());
    expect(await ids(w.guest)).toEqual([]);
    await w.alice.api.post(`/tenants/${w.tid}/channels/${priv}/members`, { userId: w.guest.userId });
    expect(await ids(w.guest)).toEqual([priv]);
    expect((await w.outsider.api.get(`/tenants/${w.tid}/channels`)).status).toBe(404);

    const got = await w.bob.api.get(`/tenants/${w.tid}/channels/${pub.body.channelId}`);
    expect(got.body).toEqual({ channelId: pub.body.channelId, name: 'general', private: false, tenantId: w.tid });
    expect((await w.bob.api.get(`/tenants/${w.tid}/channels/${priv}`)).status).toBe(404);
    expect((await w.guest.api.get(`/tenants/${w.tid}/channels/${pub.body.channelId}`)).status).toBe(404);
    expect((await w.outsider.api.get(`/tenants/${w.tid}/channels/${pub.body.channelId}`)).status).toBe(404);
    expect((await w.outsider.api.get(`/tenants/${w.otherTid}/channels/${pub.body.channelId}`)).status).toBe(404);
    expect((await w.alice.api.post(`/tenants/${w.tid}/channels`, { name: '' })).body.error).toBe('validation_failed');
    expect((await w.alice.api.get(`/tenants/not-a-uuid/channels`)).body.error).toBe('validation_failed');
  });

  it('lets the creator or an admin manage channel members and announces revocations', async () => {
    const w = await world();
    const cid = await createChannel(w.alice, w.tid, { private: true });
    const members = `/tenants/${w.tid}/channels/${cid}/members`;
    expect((await w.bob.api.post(members, { userId: w.bob.userId })).status).toBe(404);
    const pub = await createChannel(w.alice, w.tid);
    expect((await w.bob.api.post(`/tenants/${w.tid}/channels/${pub}/members`, { userId: w.guest.userId })).status).toBe(403);
    expect((await w.alice.api.post(members, { userId: w.outsider.userId })).status).toBe(404);

    const added = await w.alice.api.post(members, { userId: w.bob.userId });
    expect(added.status).toBe(201);
    expect((await w.bob.api.get(`/tenants/${w.tid}/channels/${cid}`)).status).toBe(200);
    expect((await w.bob.api.delete(`${members}/${w.alice.userId}`)).status).toBe(403);
    expect((await w.admin.api.post(members, { userId: w.guest.userId })).status).toBe(201);

    const events: BusEvent[] = [];
    const off = target.app.services.bus.onEvent((e) => events.push(e));
    try {
      expect((await w.admin.api.delete(`${members}/${w.bob.userId}`)).status).toBe(204);
      await expect.poll(() => events).toContainEqual({
        scope: { control: true },
        tenantId: w.tid,
        event: { type: 'membership.revoked', channelId: cid, userId: w.bob.userId },
      });
    } finally {
      off();
    }
    expect((await w.bob.api.get(`/tenants/${w.tid}/channels/${cid}`)).status).toBe(404);
    expect((await w.alice.api.delete(`${members}/${w.bob.userId}`)).status).toBe(404);
  });
});

describe('messages', () => {
  it('posts after commit, returns the original for a repeated clientId, and pages newest first', async () => {
    const w = await world();
    const cid = await createChannel(w.alice, w.tid);
    const msgs = `/tenants/${w.tid}/channels/${cid}/messages`;
    const first = await w.alice.api.post(msgs, { body: 'hello', clientId: 'c-1' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: expect.any(String), channelId: cid, authorId: w.alice.userId, body: 'hello', clientId: 'c-1', createdAt: expect.any(String), editedAt: null });
    const again = await w.alice.api.post(msgs, { body: 'hello (retry)', clientId: 'c-1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect((await w.bob.api.post(msgs, { body: 'same key, other author', clientId: 'c-1' })).status).toBe(201);

    for (let i = 0; i < 5; i++) expect((await w.bob.api.post(msgs, { body: `m${i}` })).status).toBe(201);
    const page1 = await w.alice.api.get(`${msgs}?limit=3`);
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((m: { body: string }) => m.body)).toEqual(['m4', 'm3', 'm2']);
    expect(page1.body.nextCursor).toBe(page1.body.items[2].id);
    const page2 = await w.alice.api.get(`${msgs}?limit=3&before=${page1.body.nextCursor}`);
    expect(page2.body.items.map((m: { body: string }) => m.body)).toEqual(['m1', 'm0', 'same key, other author']);
    const page3 = await w.alice.api.get(`${msgs}?limit=3&before=${page2.body.nextCursor}`);
    expect(page3.body).toEqual({ items: [first.body], nextCursor: null });
    expect((await w.alice.api.get(msgs)).body.items).toHaveLength(7);

    expect((await w.alice.api.get(`${msgs}?limit=0`)).body.error).toBe('validation_failed');
    expect((await w.alice.api.get(`${msgs}?before=${randomUUID()}`)).body.error).toBe('validation_failed');
    expect((await w.alice.api.post(msgs, { body: '' })).body.error).toBe('validation_failed');
    expect((await w.alice.api.post(msgs, { body: 'x'.repeat(4001) })).body.error).toBe('validation_failed');
    expect((await w.alice.api.post(msgs, { body: 'x'.repeat(4000) })).status).toBe(201);
  });

  it('keeps non-readers out', async () => {
    const w = await world();
    const pub = await createChannel(w.alice, w.tid);
    const priv = await createChannel(w.alice, w.tid, { private: true });
    expect((await w.outsider.api.get(`/tenants/${w.tid}/channels/${pub}/messages`)).status).toBe(404);
    expect((await w.outsider.api.post(`/tenants/${w.tid}/channels/${pub}/messages`, { body: 'hi' })).status).toBe(404);
    expect((await w.bob.api.get(`/tenants/${w.tid}/channels/${priv}/messages`)).status).toBe(404);
    expect((await w.guest.api.post(`/tenants/${w.tid}/channels/${pub}/messages`, { body: 'hi' })).status).toBe(404);
    expect((await w.outsider.api.get(`/tenants/${w.otherTid}/channels/${pub}/messages`)).status).toBe(404);
  });

  it('lets only the author edit, and the author or an admin delete', async () => {
    const w = await world();
    const cid = await createChannel(w.alice, w.tid);
    const msgs = `/tenants/${w.tid}/channels/${cid}/messages`;
    const m = (await w.alice.api.post(msgs, { body: 'original' })).body;
    const m2 = (await w.alice.api.post(msgs, { body: 'second' })).body;

    const notAuthor = await w.bob.api.patch(`${msgs}/${m.id}`, { body: 'hijacked' });
    expect(notAuthor.status).toBe(403);
    expect((await w.admin.api.patch(`${msgs}/${m.id}`, { body: 'hijacked' })).status).toBe(403);
    expect((await w.outsider.api.patch(`${msgs}/${m.id}`, { body: 'hijacked' })).status).toBe(404);
    const edited = await w.alice.api.patch(`${msgs}/${m.id}`, { body: 'edited' });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ id: m.id, body: 'edited', authorId: w.alice.userId });
    expect(edited.body.editedAt).not.toBeNull();
    expect((await w.alice.api.patch(`${msgs}/${randomUUID()}`, { body: 'x' })).status).toBe(404);
    expect((await w.alice.api.patch(`${msgs}/${m.id}`, { body: 'x', authorId: w.bob.userId })).body.error).toBe('validation_failed');

    expect((await w.bob.api.delete(`${msgs}/${m.id}`)).status).toBe(403);
    expect((await w.admin.api.delete(`${msgs}/${m.id}`)).status).toBe(204);
    expect((await w.alice.api.delete(`${msgs}/${m2.id}`)).status).toBe(204);
    expect((await w.alice.api.get(msgs)).body.items).toEqual([]);
    expect((await w.alice.api.delete(`${msgs}/${m.id}`)).status).toBe(404);
  });
});

describe('uploads', () => {
  it('stores raw bytes of any content type and serves them as an attachment to readers only', async () => {
    const w = await world();
    const cid = await createChannel(w.alice, w.tid);
    const base = `/tenants/${w.tid}/channels/${cid}/uploads`;
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const bin = await w.alice.api.post(`${base}?filename=data.bin`, undefined, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    expect(bin.status).toBe(201);
    expect(bin.body).toEqual({ uploadId: expect.any(String), filename: 'data.bin', size: 7, contentType: 'application/octet-stream' });
    const jsonText = '{"not": "parsed"';
    const json = await w.bob.api.post(`${base}?filename=${encodeURIComponent('notes é.json')}`, undefined, { body: jsonText, headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(json.status).toBe(201);
    expect(json.body.contentType).toBe('application/json');

    const list = await w.bob.api.get(base);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(2);
    expect(list.body.items).toContainEqual({ uploadId: bin.body.uploadId, filename: 'data.bin', size: 7, contentType: 'application/octet-stream', uploaderId: w.alice.userId });

    const dl = await w.bob.api.get(`${base}/${bin.body.uploadId}`);
    expect(dl.status).toBe(200);
    expect(dl.bytes.equals(bytes)).toBe(true);
    expect(dl.headers.get('content-type')).toBe('application/octet-stream');
    expect(dl.headers.get('content-disposition')).toMatch(/^attachment; filename="data\.bin"/);
    const dlJson = await w.alice.api.get(`${base}/${json.body.uploadId}`);
    expect(dlJson.bytes.toString()).toBe(jsonText);
    expect(dlJson.headers.get('content-type')).toMatch(/^application\/json/);
    expect(dlJson.headers.get('content-disposition')).toContain("filename*=UTF-8''notes%20%C3%A9.json");

    expect((await w.outsider.api.get(base)).status).toBe(404);
    expect((await w.outsider.api.get(`${base}/${bin.body.uploadId}`)).status).toBe(404);
    expect((await w.guest.api.get(base)).status).toBe(404);
    expect((await w.outsider.api.post(`${base}?filename=x`, undefined, { body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(404);
    expect((await w.alice.api.get(`${base}/${randomUUID()}`)).status).toBe(404);
  });

  it('rejects bodies over 1 MiB and a missing filename, and leaves JSON parsing of other routes alone', async () => {
    const w = await world();
    const cid = await createChannel(w.alice, w.tid);
    const base = `/tenants/${w.tid}/channels/${cid}/uploads`;
    const big = await w.alice.api.post(`${base}?filename=big.bin`, undefined, { body: Buffer.alloc(1024 * 1024 + 1), headers: { 'content-type': 'application/octet-stream' } });
    expect(big.status).toBe(413);
    expect(big.body.error).toBe('payload_too_large');
    const max = await w.alice.api.post(`${base}?filename=max.bin`, undefined, { body: Buffer.alloc(1024 * 1024, 7), headers: { 'content-type': 'image/png' } });
    expect(max.status).toBe(201);
    expect(max.body.size).toBe(1024 * 1024);
    const noName = await w.alice.api.post(base, undefined, { body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(noName.body.error).toBe('validation_failed');
    expect((await w.alice.api.post(`${base}?filename=${encodeURIComponent('../etc/passwd')}`, undefined, { body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(400);
    const notJson = await call(url, 'POST', `/tenants/${w.tid}/channels`, { token: w.alice.token, body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(notJson.status).toBe(415);
  });
});

describe('bots', () => {
  it('creates bots for admins only and enforces their scopes and tenant', async () => {
    const w = await world();
    const cid = await createChannel(w.alice, w.tid);
    expect((await w.alice.api.post(`/tenants/${w.tid}/bots`, { name: 'b', scopes: ['messages:read'] })).status).toBe(403);
    expect((await w.outsider.api.post(`/tenants/${w.tid}/bots`, { name: 'b', scopes: ['messages:read'] })).status).toBe(404);
    expect((await w.admin.api.post(`/tenants/${w.tid}/bots`, { name: 'b', scopes: ['root'] })).body.error).toBe('validation_failed');

    const created = await w.admin.api.post(`/tenants/${w.tid}/bots`, { name: 'reader-bot', scopes: ['channels:read', 'messages:read'] });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ botId: expect.any(String), token: expect.any(String) });
    const bot = client(url, created.body.token);

    expect((await bot.get('/me')).body).toMatchObject({ userId: created.body.botId, kind: 'bot', tenants: [{ tenantId: w.tid, role: 'member' }] });
    expect((await bot.get(`/tenants/${w.tid}/channels`)).status).toBe(200);
    expect((await bot.get(`/tenants/${w.tid}/channels/${cid}/messages`)).status).toBe(200);
    const write = await bot.post(`/tenants/${w.tid}/channels/${cid}/messages`, { body: 'beep' });
    expect(write.status).toBe(403);
    expect(write.body.message).toContain('messages:write');
    expect((await bot.post(`/tenants/${w.tid}/channels`, { name: 'bot-room' })).status).toBe(403);
    expect((await bot.get(`/tenants/${w.tid}/channels/${cid}/uploads`)).status).toBe(403);
    expect((await bot.post(`/tenants/${w.tid}/bots`, { name: 'child', scopes: [] })).status).toBe(403);
    expect((await bot.post('/tenants', { name: 'bot-tenant' })).status).toBe(403);
    expect((await bot.get(`/tenants/${w.otherTid}/channels`)).status).toBe(404);

    const writer = await w.owner.api.post(`/tenants/${w.tid}/bots`, { name: 'writer-bot', scopes: ['messages:write'] });
    const posted = await client(url, writer.body.token).post(`/tenants/${w.tid}/channels/${cid}/messages`, { body: 'beep' });
    expect(posted.status).toBe(201);
    expect(posted.body.authorId).toBe(writer.body.botId);
    expect((await client(url, writer.body.token).get(`/tenants/${w.tid}/channels/${cid}/messages`)).status).toBe(403);
  });
});

describe('openapi', () => {
  it('documents every route with its schema', async () => {
    const doc = (await call(url, 'GET', '/openapi.json')).body;
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/auth/register',
      '/auth/login',
      '/me',
      '/tenants',
      '/tenants/{tid}',
      '/tenants/{tid}/members',
      '/tenants/{tid}/members/{uid}/role',
      '/tenants/{tid}/members/{uid}/suspend',
      '/tenants/{tid}/members/{uid}',
      '/tenants/{tid}/channels',
      '/tenants/{tid}/channels/{cid}',
      '/tenants/{tid}/channels/{cid}/members',
      '/tenants/{tid}/channels/{cid}/members/{uid}',
      '/tenants/{tid}/channels/{cid}/messages',
      '/tenants/{tid}/channels/{cid}/messages/{mid}',
      '/tenants/{tid}/channels/{cid}/uploads',
      '/tenants/{tid}/channels/{cid}/uploads/{upid}',
      '/tenants/{tid}/bots',
    ]) {
      expect(paths).toContain(p);
    }
    expect(doc.paths['/auth/register'].post.requestBody.content['application/json'].schema.required).toEqual(['email', 'password', 'displayName']);
    expect(doc.paths['/tenants/{tid}/channels/{cid}/messages'].patch).toBeUndefined();
    expect(Object.keys(doc.paths['/tenants/{tid}/channels/{cid}/messages/{mid}'])).toEqual(expect.arrayContaining(['patch', 'delete']));
  });
});
