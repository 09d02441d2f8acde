import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, client, createChannel, createTenant, registerAndLogin, type TestUser } from './support/http.ts';
import { startTarget, type RunningTarget } from './support/target.ts';

/**
 * Each HTTP-level flaw switch, shown both ways: the clean target refuses, and an
 * instance with only that switch on lets the regression through.
 */
const SWITCHES = [
  'message-edit-any-author',
  'channel-read-cross-tenant',
  'admin-demote-parse',
  'jwt-alg-none',
  'expired-token-accepted',
  'bot-scope-ignored',
  'upload-no-membership',
  'cache-key-no-tenant',
] as const;
type Switch = (typeof SWITCHES)[number];

const JWT_SECRET = 'test-secret-that-is-long-enough';

let clean: RunningTarget;
const flawed = {} as Record<Switch, RunningTarget>;

// The clean instance migrates the database first; the flawed ones then share it and start in
// parallel with nothing left to migrate, which keeps nine fresh migrations off a busy test Postgres.
// Rows never collide: every test makes its own users and tenants.
beforeAll(async () => {
  clean = await startTarget();
  const started = await Promise.allSettled(SWITCHES.map((f) => startTarget({ flaws: [f], databaseUrl: clean.databaseUrl })));
  started.forEach((r, i) => {
    if (r.status === 'fulfilled') flawed[SWITCHES[i]!] = r.value;
  });
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
});

afterAll(async () => {
  await Promise.all([clean, ...Object.values(flawed)].filter(Boolean).map((t) => t.close()));
});

/** Two tenants: A (owner, member, public channel) and B (its own owner), on one instance. */
async function twoTenants(t: RunningTarget) {
  const [ownerA, memberA, ownerB] = await Promise.all([registerAndLogin(t.url), registerAndLogin(t.url), registerAndLogin(t.url)]);
  const [tenantA, tenantB] = await Promise.all([createTenant(ownerA), createTenant(ownerB)]);
  await addMember(ownerA, tenantA, memberA, 'member');
  const channelA = await createChannel(ownerA, tenantA);
  return { ownerA, memberA, ownerB, tenantA, tenantB, channelA };
}

describe('message-edit-any-author', () => {
  async function editSomeoneElsesMessage(t: RunningTarget) {
    const w = await twoTenants(t);
    const path = `/tenants/${w.tenantA}/channels/${w.channelA}/messages`;
    const msg = await w.ownerA.api.post(path, { body: 'signed, the owner' });
    expect(msg.status).toBe(201);
    const edit = await w.memberA.api.patch(`${path}/${msg.body.id}`, { body: 'forged' });
    const stored = (await w.ownerA.api.get(path)).body.items[0].body as string;
    return { status: edit.status, stored };
  }

  it('clean: a reader who is not the author gets 403 and the message is unchanged', async () => {
    expect(await editSomeoneElsesMessage(clean)).toEqual({ status: 403, stored: 'signed, the owner' });
  });

  it('flawed: any reader rewrites the message', async () => {
    expect(await editSomeoneElsesMessage(flawed['message-edit-any-author'])).toEqual({ status: 200, stored: 'forged' });
  });
});

describe('channel-read-cross-tenant', () => {
  async function readForeignChannel(t: RunningTarget) {
    const w = await twoTenants(t);
    await w.ownerA.api.post(`/tenants/${w.tenantA}/channels/${w.channelA}/messages`, { body: 'tenant A only' });
    const channel = await w.ownerB.api.get(`/tenants/${w.tenantB}/channels/${w.channelA}`);
    const messages = await w.ownerB.api.get(`/tenants/${w.tenantB}/channels/${w.channelA}/messages`);
    return { channel: channel.status, messages: messages.status, leaked: messages.body.items?.map((m: { body: string }) => m.body) };
  }

  it('clean: a member of tenant B gets 404 for a channel of tenant A', async () => {
    expect(await readForeignChannel(clean)).toEqual({ channel: 404, messages: 404, leaked: undefined });
  });

  it('flawed: a member of tenant B reads tenant A\'s channel through its own tenant path', async () => {
    expect(await readForeignChannel(flawed['channel-read-cross-tenant'])).toEqual({ channel: 200, messages: 200, leaked: ['tenant A only'] });
  });
});

describe('admin-demote-parse', () => {
  async function demoteWithPipes(t: RunningTarget) {
    const w = await twoTenants(t);
    const rolePath = `/tenants/${w.tenantA}/members/${w.memberA.userId}/role`;
    expect((await w.ownerA.api.put(rolePath, { groups: 'admin' })).body.role).toBe('admin');
    const demoted = await w.ownerA.api.put(rolePath, { groups: 'member|ops' });
    const newcomer = await registerAndLogin(t.url);
    const adminAction = await w.memberA.api.post(`/tenants/${w.tenantA}/members`, { email: newcomer.email, role: 'member' });
    return { status: demoted.status, role: demoted.body.role, adminAction: adminAction.status };
  }

  it('clean: "member|ops" demotes the admin to member, who loses admin rights', async () => {
    expect(await demoteWithPipes(clean)).toEqual({ status: 200, role: 'member', adminAction: 403 });
  });

  it('flawed: the pipe list is not understood and the admin keeps admin rights', async () => {
    expect(await demoteWithPipes(flawed['admin-demote-parse'])).toEqual({ status: 200, role: 'admin', adminAction: 201 });
  });
});

const b64url = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('jwt-alg-none', () => {
  async function unsignedToken(t: RunningTarget) {
    const victim = await registerAndLogin(t.url);
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: victim.userId, kind: 'user', iat: now, exp: now + 600 })}.`;
    const me = await client(t.url, token).get('/me');
    return { status: me.status, userId: me.body.userId };
  }

  it('clean: an unsigned alg:none token is rejected', async () => {
    expect(await unsignedToken(clean)).toEqual({ status: 401, userId: undefined });
  });

  it('flawed: an unsigned token impersonates the user', async () => {
    const res = await unsignedToken(flawed['jwt-alg-none']);
    expect(res.status).toBe(200);
    expect(res.userId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('expired-token-accepted', () => {
  async function expiredToken(t: RunningTarget) {
    const user = await registerAndLogin(t.url);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ kind: 'user' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.userId)
      .setIssuedAt(now - 3600)
      .setExpirationTime(now - 1800)
      .sign(new TextEncoder().encode(JWT_SECRET));
    const me = await client(t.url, token).get('/me');
    return { status: me.status, userId: me.body.userId, expected: user.userId };
  }

  it('clean: a token that expired half an hour ago is rejected', async () => {
    const res = await expiredToken(clean);
    expect(res.status).toBe(401);
    expect(res.userId).toBeUndefined();
  });

  it('flawed: the expired token still works', async () => {
    const res = await expiredToken(flawed['expired-token-accepted']);
    expect(res.status).toBe(200);
    expect(res.userId).toBe(res.expected);
  });
});

describe('bot-scope-ignored', () => {
  async function readOnlyBotWrites(t: RunningTarget) {
    const w = await twoTenants(t);
    const bot = await w.ownerA.api.post(`/tenants/${w.tenantA}/bots`, { name: 'reader', scopes: ['messages:read'] });
    expect(bot.status).toBe(201);
    const botApi = client(t.url, bot.body.token);
    const read = await botApi.get(`/tenants/${w.tenantA}/channels/${w.channelA}/messages`);
    const write = await botApi.post(`/tenants/${w.tenantA}/channels/${w.channelA}/messages`, { body: 'spam' });
    const create = await botApi.post(`/tenants/${w.tenantA}/channels`, { name: 'bot-made' });
    return { read: read.status, write: write.status, create: create.status };
  }

  it('clean: a messages:read bot can read but not post or create channels', async () => {
    expect(await readOnlyBotWrites(clean)).toEqual({ read: 200, write: 403, create: 403 });
  });

  it('flawed: the bot\'s scopes are not checked', async () => {
    expect(await readOnlyBotWrites(flawed['bot-scope-ignored'])).toEqual({ read: 200, write: 201, create: 201 });
  });
});

describe('upload-no-membership', () => {
  async function outsiderFetchesUpload(t: RunningTarget) {
    const w = await twoTenants(t);
    const base = `/tenants/${w.tenantA}/channels/${w.channelA}/uploads`;
    const up = await w.ownerA.api.post(`${base}?filename=payroll.csv`, undefined, { body: 'alice,100000\n', headers: { 'content-type': 'text/csv' } });
    expect(up.status).toBe(201);
    const list = await w.ownerB.api.get(base);
    const download = await w.ownerB.api.get(`${base}/${up.body.uploadId}`);
    const anonymous = await client(t.url).get(base);
    return { list: list.status, download: download.status, bytes: download.status === 200 ? download.bytes.toString() : null, anonymous: anonymous.status };
  }

  it('clean: a user from another tenant gets 404 for the list and the download', async () => {
    expect(await outsiderFetchesUpload(clean)).toEqual({ list: 404, download: 404, bytes: null, anonymous: 401 });
  });

  it('flawed: a user from another tenant lists and downloads the file (still not anonymously)', async () => {
    expect(await outsiderFetchesUpload(flawed['upload-no-membership'])).toEqual({ list: 200, download: 200, bytes: 'alice,100000\n', anonymous: 401 });
  });
});

describe('cache-key-no-tenant', () => {
  async function roleFromOtherTenant(t: RunningTarget) {
    const w = await twoTenants(t);
    const u: TestUser = w.memberA;
    await createChannel(w.ownerB, w.tenantB, { name: 'b-internal' });
    expect((await u.api.get(`/tenants/${w.tenantA}/channels`)).status).toBe(200);
    const other = await u.api.get(`/tenants/${w.tenantB}/channels`);
    return { status: other.status, names: other.body.items?.map((c: { name: string }) => c.name) };
  }

  it('clean: a member of A who lists A first still gets 404 in B', async () => {
    expect(await roleFromOtherTenant(clean)).toEqual({ status: 404, names: undefined });
  });

  it('flawed: the role cached for A is reused for B', async () => {
    expect(await roleFromOtherTenant(flawed['cache-key-no-tenant'])).toEqual({ status: 200, names: ['b-internal'] });
  });
});
