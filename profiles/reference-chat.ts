import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { defineTarget, type Credentials, type IntegrityChannel, type PrincipalDefinition, type PrincipalInfo, type ResourceInstance, type SeedContext } from '../harness/config/target.ts';

/**
 * The reference chat service, described only through its public contract
 * (target/API.md): HTTP routes, the `/ws` protocol and the documented roles,
 * scopes and deny statuses. Nothing here knows how the service is built.
 */

type TenantKey = 'acme' | 'globex';
type UserName = 'acmeOwner' | 'acmeAdmin' | 'acmeMember' | 'acmeMember2' | 'acmeGuest' | 'acmeDemoted' | 'globexOwner' | 'globexMember';

/** What `seed()` creates; JSON-serialisable so the harness can hand it to another process. */
export interface ChatWorld {
  tenants: Record<TenantKey, { id: string }>;
  users: Record<UserName, { id: string; email: string; password: string }>;
  channels: { acmeGeneral: string; acmeSecret: string; globexGeneral: string };
  bots: { acmeReaderBot: { id: string; token: string } };
}

/** Each user: the tenant it belongs to, the role it is given there, and the email handle. */
const USERS: Record<UserName, { tenant: TenantKey; handle: string; role: 'owner' | 'admin' | 'member' | 'guest' }> = {
  acmeOwner: { tenant: 'acme', handle: 'owner', role: 'owner' },
  acmeAdmin: { tenant: 'acme', handle: 'admin', role: 'admin' },
  acmeMember: { tenant: 'acme', handle: 'member', role: 'member' },
  acmeMember2: { tenant: 'acme', handle: 'member2', role: 'member' },
  acmeGuest: { tenant: 'acme', handle: 'guest', role: 'guest' },
  // Added as admin, then demoted by seed(): its role is member.
  acmeDemoted: { tenant: 'acme', handle: 'demoted', role: 'member' },
  globexOwner: { tenant: 'globex', handle: 'owner', role: 'owner' },
  globexMember: { tenant: 'globex', handle: 'member', role: 'member' },
};

const BOT_SCOPES = ['messages:read', 'channels:read'];

/** The private acme channel's members: its creator and one member. */
const SECRET_MEMBERS = ['acmeOwner', 'acmeMember'];
/** Principals that read the public acme channel over a socket (the bot has no `realtime` scope). */
const ACME_READERS = ['acmeOwner', 'acmeAdmin', 'acmeMember', 'acmeMember2', 'acmeDemoted'];

// ── HTTP through the public API ──────────────────────────────────────────────

interface Call {
  token?: string;
  body?: unknown;
  /** Raw body sent with this content type instead of JSON. */
  contentType?: string;
  expect: number;
}

/** One request; any status other than `expect` throws naming the route and the status (never the body of a request, which may hold a password). */
async function call<T = any>(baseUrl: string, method: string, path: string, { token, body, contentType, expect }: Call): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = contentType ?? 'application/json';
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    body: body === undefined ? undefined : contentType ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expect) {
    let code = '';
    try {
      code = ` (${JSON.parse(text).error})`;
    } catch {}
    throw new Error(`reference-chat: ${method} ${path} answered ${res.status}${code}, expected ${expect}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

async function login(baseUrl: string, user: { email: string; password: string }): Promise<{ token: string; userId: string }> {
  const res = await call<{ accessToken: string; userId: string }>(baseUrl, 'POST', '/auth/login', { body: { email: user.email, password: user.password }, expect: 200 });
  return { token: res.accessToken, userId: res.userId };
}

/** Run ids become part of emails and names: keep them to what an email's local part accepts. */
const slug = (runId: string) => runId.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40);

// ── seed ──────────────────────────────────────────────────────────────────────

/**
 * Two tenants, eight users, three channels and a bot, all through the API,
 * independent requests in parallel. Emails carry the run id, so runs never
 * collide; seeding the same run id twice fails on the first register (409).
 */
async function seed(ctx: SeedContext): Promise<ChatWorld> {
  const { baseUrl } = ctx;
  const run = slug(ctx.runId);
  const names = Object.keys(USERS) as UserName[];

  const registered = await Promise.all(
    names.map(async (name) => {
      const { tenant, handle } = USERS[name];
      const email = `${handle}.${tenant}.${run}@example.test`;
      const password = randomBytes(18).toString('base64url');
      ctx.secret(password);
      const { userId } = await call<{ userId: string }>(baseUrl, 'POST', '/auth/register', { body: { email, password, displayName: name }, expect: 201 });
      return [name, { id: userId, email, password }] as const;
    }),
  );
  const users = Object.fromEntries(registered) as ChatWorld['users'];

  const [acmeOwner, globexOwner] = await Promise.all([login(baseUrl, users.acmeOwner), login(baseUrl, users.globexOwner)]);
  ctx.secret(acmeOwner.token);
  ctx.secret(globexOwner.token);
  const [acme, globex] = await Promise.all([
    call<{ tenantId: string }>(baseUrl, 'POST', '/tenants', { token: acmeOwner.token, body: { name: `acme-${run}` }, expect: 201 }),
    call<{ tenantId: string }>(baseUrl, 'POST', '/tenants', { token: globexOwner.token, body: { name: `globex-${run}` }, expect: 201 }),
  ]);
  const tenantOf = { acme: { tid: acme.tenantId, owner: acmeOwner.token }, globex: { tid: globex.tenantId, owner: globexOwner.token } };

  // acmeDemoted joins as an admin so that the demotion below is a real one.
  await Promise.all(
    names
      .filter((n) => USERS[n].role !== 'owner')
      .map((n) => {
        const { tid, owner } = tenantOf[USERS[n].tenant];
        const role = n === 'acmeDemoted' ? 'admin' : USERS[n].role;
        return call(baseUrl, 'POST', `/tenants/${tid}/members`, { token: owner, body: { email: users[n].email, role }, expect: 201 });
      }),
  );

  const a = tenantOf.acme;
  const [general, secret, globexGeneral, bot] = await Promise.all([
    call<{ channelId: string }>(baseUrl, 'POST', `/tenants/${a.tid}/channels`, { token: a.owner, body: { name: 'general' }, expect: 201 }),
    call<{ channelId: string }>(baseUrl, 'POST', `/tenants/${a.tid}/channels`, { token: a.owner, body: { name: 'secret', private: true }, expect: 201 }),
    call<{ channelId: string }>(baseUrl, 'POST', `/tenants/${tenantOf.globex.tid}/channels`, { token: tenantOf.globex.owner, body: { name: 'general' }, expect: 201 }),
    call<{ botId: string; token: string }>(baseUrl, 'POST', `/tenants/${a.tid}/bots`, { token: a.owner, body: { name: `reader-${run}`, scopes: BOT_SCOPES }, expect: 201 }),
    // A real deployment demotes with a pipe-separated group list; the role must become member.
    call(baseUrl, 'PUT', `/tenants/${a.tid}/members/${users.acmeDemoted.id}/role`, { token: a.owner, body: { groups: 'member|support' }, expect: 200 }),
  ]);
  ctx.secret(bot.token);
  await call(baseUrl, 'POST', `/tenants/${a.tid}/channels/${secret.channelId}/members`, { token: a.owner, body: { userId: users.acmeMember.id }, expect: 201 });

  return {
    tenants: { acme: { id: acme.tenantId }, globex: { id: globex.tenantId } },
    users,
    channels: { acmeGeneral: general.channelId, acmeSecret: secret.channelId, globexGeneral: globexGeneral.channelId },
    bots: { acmeReaderBot: { id: bot.botId, token: bot.token } },
  };
}

// ── principals ────────────────────────────────────────────────────────────────

function user(name: UserName): PrincipalDefinition<ChatWorld> {
  const { tenant, role } = USERS[name];
  return {
    tenant,
    role,
    kind: 'user',
    async login({ baseUrl, world }) {
      const { token, userId } = await login(baseUrl, world.users[name]);
      return { headers: { authorization: `Bearer ${token}` }, subjectId: userId };
    },
  };
}

const principals = {
  ...(Object.fromEntries((Object.keys(USERS) as UserName[]).map((n) => [n, user(n)])) as Record<UserName, PrincipalDefinition<ChatWorld>>),
  acmeReaderBot: {
    tenant: 'acme',
    // A bot is a plain member of its tenant; its scopes are what limit it.
    role: 'member',
    kind: 'bot',
    scopes: BOT_SCOPES,
    async login({ world }) {
      const bot = world.bots.acmeReaderBot;
      return { headers: { authorization: `Bearer ${bot.token}` }, subjectId: bot.id };
    },
  } satisfies PrincipalDefinition<ChatWorld>,
};

// ── policy: API.md's rules ────────────────────────────────────────────────────

const RANK: Record<string, number> = { guest: 0, member: 1, admin: 2, owner: 3 };
const atLeast = (p: PrincipalInfo, role: string) => (RANK[p.role] ?? -1) >= RANK[role]!;
/** A user token holds every scope; a bot token only its own (its tenant is checked by `inTenant`). */
const hasScope = (p: PrincipalInfo, scope: string) => p.kind === 'user' || p.scopes.includes(scope);
const inTenant = (p: PrincipalInfo, i: ResourceInstance) => p.tenant === i.tenant;
const allow = (ok: boolean) => (ok ? 'allow' : 'deny');

/** Channel attributes that instances carry for policies. */
interface ChannelAttrs {
  private: boolean;
  /** Principals added to the channel (its creator included). */
  members: string[];
}

/** "Readers of a channel: tenant members (not guests) for public channels; channel members for private ones and for guests." Posting follows reading. */
function readsChannel(p: PrincipalInfo, i: ResourceInstance): boolean {
  const ch = i.attrs?.channel as ChannelAttrs;
  if (!inTenant(p, i)) return false;
  if (!ch.private && p.role !== 'guest') return true;
  return ch.members.includes(p.name);
}

type CreateCtx = { baseUrl: string; world: ChatWorld; runId: string; as(principal: string): Promise<Credentials> };

/** A request made as one principal while creating an instance. */
async function as<T>(ctx: CreateCtx, principal: string, method: string, path: string, rest: Omit<Call, 'token'>): Promise<T> {
  const creds = await ctx.as(principal);
  const token = creds.headers?.authorization?.replace(/^Bearer /, '');
  return call<T>(ctx.baseUrl, method, path, { ...rest, token });
}

/** A public acme channel made by acmeOwner (acme general, and the channel instances). */
const publicByOwner: ChannelAttrs = { private: false, members: ['acmeOwner'] };
const acmeSecretAttrs: ChannelAttrs = { private: true, members: SECRET_MEMBERS };

// ── realtime payloads ─────────────────────────────────────────────────────────

const presetArbitrary = fc.record({
  name: fc.string({ minLength: 1, maxLength: 100 }),
  data: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.oneof(fc.string({ maxLength: 200 }), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 10 }),
});

const rtcSignalArbitrary = fc.oneof(
  fc.record({ kind: fc.constantFrom('offer', 'answer'), sdp: fc.string({ maxLength: 2000 }).map((s) => `v=0\r\n${s}`) }),
  fc.record(
    { kind: fc.constant('ice'), candidate: fc.string({ maxLength: 500 }), sdpMid: fc.string({ maxLength: 64 }), sdpMLineIndex: fc.integer({ min: 0, max: 64 }) },
    { requiredKeys: ['kind', 'candidate'] },
  ),
);

// ── integrity: append and read back ───────────────────────────────────────────

/** History pages read before the checker gives up on a channel (50 messages each). */
const HISTORY_MAX_PAGES = 2_000;

/** Every message body of a channel, newest first, following `nextCursor` until it runs out. */
async function channelHistory({ channel, get }: { channel: IntegrityChannel; get(path: string): Promise<unknown> }): Promise<string[]> {
  const base = `/tenants/${encodeURIComponent(channel.params.tenantId!)}/channels/${encodeURIComponent(channel.params.channelId!)}/messages?limit=50`;
  const bodies: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
    const res = (await get(cursor ? `${base}&before=${encodeURIComponent(cursor)}` : base)) as { items: Array<{ body: string }>; nextCursor: string | null };
    for (const m of res.items) bodies.push(m.body);
    if (!res.nextCursor) return bodies;
    cursor = res.nextCursor;
  }
  throw new Error(`reference-chat: the history of channel ${channel.key} has more than ${HISTORY_MAX_PAGES} pages of 50; the nothing-lost check reads at most that many`);
}

/** A delivered object payload is matched by its JSON text, which a JSON round trip preserves. */
const json = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));

// ── throwaway principals for suspension and revocation checks ─────────────────

/** Registers a fresh user and adds it to acme as a member; returns its id and a token obtained before anything is taken away. */
async function throwawayMember(ctx: CreateCtx, handle: string): Promise<{ id: string; token: string }> {
  const email = `${handle}.${randomBytes(4).toString('hex')}.${slug(ctx.runId)}@example.test`;
  const password = randomBytes(18).toString('base64url');
  const { userId } = await call<{ userId: string }>(ctx.baseUrl, 'POST', '/auth/register', { body: { email, password, displayName: handle }, expect: 201 });
  await as(ctx, 'acmeOwner', 'POST', `/tenants/${ctx.world.tenants.acme.id}/members`, { body: { email, role: 'member' }, expect: 201 });
  const { token } = await login(ctx.baseUrl, { email, password });
  return { id: userId, token };
}

// ── the profile ───────────────────────────────────────────────────────────────

export default defineTarget<ChatWorld>({
  name: 'reference-chat',
  description: 'The reference multi-tenant realtime chat service (target/), through its public API only.',
  stack: {
    services: {
      postgres: { kind: 'postgres', database: 'chat', image: 'postgres:15-alpine' },
      redis: { kind: 'redis', image: 'redis:7-alpine' },
      app: {
        kind: 'process',
        command: ['node', '--import', 'tsx', 'target/src/main.ts'],
        cwd: '.',
        env: {
          PORT: '{{port}}',
          HOST: '127.0.0.1',
          DATABASE_URL: 'postgres://postgres@{{link:app-postgres}}/chat',
          REDIS_URL: 'redis://{{link:app-redis}}',
          JWT_SECRET: '{{secret:jwt}}',
          LOG_LEVEL: 'info',
        },
        passEnv: ['TARGET_FLAWS', 'PREVIEW_TEST_ALLOW_ORIGINS'],
        health: { path: '/readyz', timeoutMs: 30_000 },
        build: { context: '.', dockerfile: 'target/Dockerfile' },
        containerPort: 3000,
      },
    },
    links: [
      { name: 'client-app', from: 'client', to: 'app' },
      { name: 'app-postgres', from: 'app', to: 'postgres' },
      { name: 'app-redis', from: 'app', to: 'redis' },
    ],
    entry: 'client-app',
  },

  seed,
  principals,

  resources: {
    /** A public acme channel. Non-members of the tenant get 404, so `list` is denied by status. */
    channel: {
      scope: 'tenant',
      async create(ctx) {
        const tid = ctx.world.tenants.acme.id;
        const { channelId } = await as<{ channelId: string }>(ctx, 'acmeOwner', 'POST', `/tenants/${tid}/channels`, { body: { name: `probe-${slug(ctx.runId)}` }, expect: 201 });
        return { params: { tenantId: tid, channelId }, tenant: 'acme', owner: 'acmeOwner', attrs: { channel: publicByOwner } };
      },
      operations: {
        read: { method: 'GET', path: '/tenants/{tenantId}/channels/{channelId}' },
        list: { method: 'GET', path: '/tenants/{tenantId}/channels' },
        create: { method: 'POST', path: '/tenants/{tenantId}/channels', body: ({ runId }) => ({ name: `matrix-${slug(runId)}` }) },
      },
      policy(p, op, i) {
        if (op === 'read') return allow(hasScope(p, 'channels:read') && readsChannel(p, i));
        // Any member may list (a guest sees only its own channels).
        if (op === 'list') return allow(hasScope(p, 'channels:read') && inTenant(p, i));
        if (op === 'create') return allow(hasScope(p, 'channels:write') && inTenant(p, i) && atLeast(p, 'member'));
        return 'deny';
      },
    },

    /** Messages of the private acme channel: only its members read or post. */
    privateChannelMessages: {
      scope: 'channel',
      async create({ world }) {
        return {
          params: { tenantId: world.tenants.acme.id, channelId: world.channels.acmeSecret },
          tenant: 'acme',
          owner: 'acmeOwner',
          attrs: { channel: acmeSecretAttrs },
        };
      },
      operations: {
        list: { method: 'GET', path: '/tenants/{tenantId}/channels/{channelId}/messages' },
        create: { method: 'POST', path: '/tenants/{tenantId}/channels/{channelId}/messages', body: ({ runId }) => ({ body: `matrix probe ${runId}` }) },
      },
      policy(p, op, i) {
        if (op === 'list') return allow(hasScope(p, 'messages:read') && readsChannel(p, i));
        if (op === 'create') return allow(hasScope(p, 'messages:write') && readsChannel(p, i));
        return 'deny';
      },
    },

    /** A message by acmeMember in acme general: only its author edits it; the author or an admin+ deletes it. */
    message: {
      scope: 'user',
      async create(ctx) {
        const tid = ctx.world.tenants.acme.id;
        const cid = ctx.world.channels.acmeGeneral;
        const { id } = await as<{ id: string }>(ctx, 'acmeMember', 'POST', `/tenants/${tid}/channels/${cid}/messages`, { body: { body: `owned by acmeMember ${ctx.runId}` }, expect: 201 });
        return { params: { tenantId: tid, channelId: cid, messageId: id }, tenant: 'acme', owner: 'acmeMember', attrs: { channel: publicByOwner } };
      },
      operations: {
        read: { method: 'GET', path: '/tenants/{tenantId}/channels/{channelId}/messages' },
        update: { method: 'PATCH', path: '/tenants/{tenantId}/channels/{channelId}/messages/{messageId}', body: ({ runId }) => ({ body: `edited by ${runId}` }) },
        delete: { method: 'DELETE', path: '/tenants/{tenantId}/channels/{channelId}/messages/{messageId}' },
      },
      policy(p, op, i) {
        const author = p.name === i.owner;
        if (op === 'read') return allow(hasScope(p, 'messages:read') && readsChannel(p, i));
        if (op === 'update') return allow(hasScope(p, 'messages:write') && readsChannel(p, i) && author);
        if (op === 'delete') return allow(hasScope(p, 'messages:write') && readsChannel(p, i) && (author || atLeast(p, 'admin')));
        return 'deny';
      },
      destructive: ['delete'],
    },

    /** An upload in the private acme channel: every operation needs read access to the channel. */
    upload: {
      scope: 'channel',
      async create(ctx) {
        const tid = ctx.world.tenants.acme.id;
        const cid = ctx.world.channels.acmeSecret;
        const { uploadId } = await as<{ uploadId: string }>(ctx, 'acmeOwner', 'POST', `/tenants/${tid}/channels/${cid}/uploads?filename=seed.txt`, {
          body: `breakwater upload ${ctx.runId}`,
          contentType: 'text/plain',
          expect: 201,
        });
        return { params: { tenantId: tid, channelId: cid, uploadId }, tenant: 'acme', owner: 'acmeOwner', attrs: { channel: acmeSecretAttrs } };
      },
      operations: {
        list: { method: 'GET', path: '/tenants/{tenantId}/channels/{channelId}/uploads' },
        read: { method: 'GET', path: '/tenants/{tenantId}/channels/{channelId}/uploads/{uploadId}' },
        create: {
          method: 'POST',
          path: '/tenants/{tenantId}/channels/{channelId}/uploads?filename=x.txt',
          body: ({ runId }) => `matrix upload ${runId}`,
          contentType: 'text/plain',
        },
      },
      check: 'isolation.uploads',
      policy(p, op, i) {
        if (op === 'list' || op === 'read') return allow(hasScope(p, 'uploads:read') && readsChannel(p, i));
        if (op === 'create') return allow(hasScope(p, 'uploads:write') && readsChannel(p, i));
        return 'deny';
      },
    },

    /**
     * acmeMember2's role, which callers try to raise to admin (vertical
     * escalation). Only an owner may grant admin, and tenant administration is
     * for users only. create() resets the role to member; an allowed update
     * counts as destructive so the matrix resets it before anything else
     * relies on acmeMember2 being a member.
     */
    memberRole: {
      scope: 'tenant',
      async create(ctx) {
        const tid = ctx.world.tenants.acme.id;
        const uid = ctx.world.users.acmeMember2.id;
        await as(ctx, 'acmeOwner', 'PUT', `/tenants/${tid}/members/${uid}/role`, { body: { groups: 'member' }, expect: 200 });
        return { params: { tenantId: tid, userId: uid }, tenant: 'acme', owner: 'acmeOwner', attrs: { target: 'acmeMember2' } };
      },
      operations: {
        update: { method: 'PUT', path: '/tenants/{tenantId}/members/{userId}/role', body: () => ({ groups: 'admin' }) },
      },
      policy(p, op, i) {
        if (op === 'update') return allow(p.kind === 'user' && inTenant(p, i) && p.role === 'owner');
        return 'deny';
      },
      destructive: ['update'],
    },

    /** The tenant's member directory: members and above, not guests. */
    memberDirectory: {
      scope: 'tenant',
      async create({ world }) {
        return { params: { tenantId: world.tenants.acme.id }, tenant: 'acme', owner: 'acmeOwner' };
      },
      operations: {
        list: { method: 'GET', path: '/tenants/{tenantId}/members' },
      },
      policy(p, op, i) {
        if (op === 'list') return allow(inTenant(p, i) && atLeast(p, 'member'));
        return 'deny';
      },
    },
  },

  deny: { statuses: [401, 403, 404] },

  realtime: {
    path: '/ws',
    auth: 'headers',
    rooms: (world) => [
      {
        key: 'acme-general',
        tenant: 'acme',
        members: ACME_READERS,
        // peerId: who rtc.signal frames are relayed to; a reader of the room.
        params: { channelId: world.channels.acmeGeneral, peerId: world.users.acmeMember.id },
      },
      { key: 'acme-secret', tenant: 'acme', members: SECRET_MEMBERS, params: { channelId: world.channels.acmeSecret, peerId: world.users.acmeOwner.id } },
      { key: 'globex-general', tenant: 'globex', members: ['globexOwner', 'globexMember'], params: { channelId: world.channels.globexGeneral, peerId: world.users.globexMember.id } },
    ],
    join: {
      frame: (room) => ({ type: 'subscribe', channelId: room.params.channelId, ref: `join-${room.key}` }),
      accepted: (f) => f?.type === 'subscribed',
      refused: (f) => f?.type === 'error' && f.code === 'forbidden',
    },
    events: {
      'message.send': {
        frame: (room, body) => ({ type: 'message.send', channelId: room.params.channelId, body, clientId: randomUUID() }),
        arbitrary: fc.string({ minLength: 1, maxLength: 200 }),
        limits: { ratePerSecond: 10, burst: 20, maxBytes: 16_384 },
        delivered: (f) => (f?.type === 'message' ? f.message?.body : undefined),
        scope: 'messages:write',
      },
      typing: {
        frame: (room) => ({ type: 'typing', channelId: room.params.channelId }),
        arbitrary: fc.constant(null),
        // Typing carries no payload; only the socket's frame cap (256 KiB, closed with 1009) bounds it.
        limits: { ratePerSecond: 10, burst: 20, maxBytes: 262_144 },
        scope: 'messages:write',
      },
      'preset.share': {
        frame: (room, preset) => ({ type: 'preset.share', channelId: room.params.channelId, preset }),
        arbitrary: presetArbitrary,
        limits: { ratePerSecond: 10, burst: 20, maxBytes: 65_536 },
        delivered: (f) => (f?.type === 'preset' ? json(f.preset) : undefined),
        scope: 'messages:write',
      },
      'rtc.signal': {
        frame: (room, signal) => ({ type: 'rtc.signal', channelId: room.params.channelId, to: room.params.peerId, signal }),
        arbitrary: rtcSignalArbitrary,
        limits: { ratePerSecond: 10, burst: 20, maxBytes: 16_384 },
        delivered: (f) => (f?.type === 'rtc.signal' ? json(f.signal) : undefined),
        relay: true,
        scope: 'messages:write',
      },
    },
    // API.md: a bot needs `realtime` to connect and `messages:write` to send anything.
    scope: 'realtime',
    /** A fresh private acme channel with acmeMember2 in it; revoke() removes acmeMember2 through the API. */
    async revocable(ctx) {
      const tid = ctx.world.tenants.acme.id;
      const { channelId } = await as<{ channelId: string }>(ctx, 'acmeOwner', 'POST', `/tenants/${tid}/channels`, {
        body: { name: `revocable-${randomBytes(3).toString('hex')}`, private: true },
        expect: 201,
      });
      const member2 = ctx.world.users.acmeMember2.id;
      await as(ctx, 'acmeOwner', 'POST', `/tenants/${tid}/channels/${channelId}/members`, { body: { userId: member2 }, expect: 201 });
      return {
        room: { key: 'acme-revocable', tenant: 'acme', members: ['acmeOwner', 'acmeMember2'], params: { channelId, peerId: member2 } },
        member: 'acmeMember2',
        revoke: () => as(ctx, 'acmeOwner', 'DELETE', `/tenants/${tid}/channels/${channelId}/members/${member2}`, { expect: 204 }),
      };
    },
    rateLimitSignal: { frame: (f) => f?.type === 'error' && f.code === 'rate_limited', closeCode: 4429 },
    rejectSignal: { frame: (f) => f?.type === 'error' && ['payload_too_large', 'validation_failed', 'bad_frame'].includes(f.code), closeCodes: [1009] },
  },

  egress: [
    {
      name: 'link-preview',
      method: 'POST',
      path: '/previews',
      as: 'acmeMember',
      body: (url) => ({ url }),
      blocked: (status) => status === 400,
      testOriginEnv: 'PREVIEW_TEST_ALLOW_ORIGINS',
    },
  ],

  slos: [
    // p95 of every HTTP request through the entry link, in milliseconds.
    { id: 'http-latency-p95', indicator: 'http_latency_p95_ms', objective: 250, window: '30s' },
    // Share of 5xx (and failed) requests.
    { id: 'http-error-rate', indicator: 'http_error_rate', objective: 0.01, window: '30s' },
    // Send-to-receive time of socket messages, p95, in milliseconds.
    { id: 'ws-delivery-p95', indicator: 'ws_delivery_p95_ms', objective: 500, window: '30s' },
    { id: 'ws-reconnect-success', indicator: 'ws_reconnect_success_rate', objective: 0.99, window: '30s' },
    // /readyz answers 200 once dependencies are back.
    { id: 'readiness', indicator: 'readiness', objective: 1, window: '30s' },
  ],

  // Emails are PII but generated per run; passwords and tokens are registered as secrets by seed().
  secrets: { pii: [] },

  tokens: {
    format: 'jwt',
    // HS256 with the stack's generated JWT_SECRET ({{secret:jwt}}): the harness forges expired, not-yet-valid and stripped tokens with it.
    signing: { alg: 'HS256', secret: { stackSecret: 'jwt' } },
    requiredClaims: ['sub', 'exp', 'iat'],
    /** A member whose token was issued, then suspended by the acme owner. */
    async suspended(ctx) {
      const victim = await throwawayMember(ctx, 'suspended');
      await as(ctx, 'acmeOwner', 'POST', `/tenants/${ctx.world.tenants.acme.id}/members/${victim.id}/suspend`, { expect: 200 });
      return { headers: { authorization: `Bearer ${victim.token}` }, subjectId: victim.id };
    },
  },

  // API.md: LOGIN_RATE_PER_MINUTE (30) attempts per email per minute, then 429 with Retry-After.
  httpLimits: [
    {
      name: 'login',
      method: 'POST',
      path: '/auth/login',
      as: null,
      body: ({ runId }) => ({ email: `limit.${slug(runId)}@example.test`, password: 'wrong-password-for-the-limit' }),
      limit: 30,
      windowSeconds: 60,
      signal: { status: 429, retryAfter: true },
    },
  ],

  /**
   * Two acme channels, each written and read by a different user (the socket
   * rate limit is per user): the public general channel as acmeMember, the
   * private secret channel as its creator acmeOwner. A message's body is the
   * marker and its clientId the idempotency key.
   */
  integrity: {
    channels: (world) => [
      { key: 'acme-general', as: 'acmeMember', params: { tenantId: world.tenants.acme.id, channelId: world.channels.acmeGeneral } },
      { key: 'acme-secret', as: 'acmeOwner', params: { tenantId: world.tenants.acme.id, channelId: world.channels.acmeSecret } },
    ],
    http: { method: 'POST', path: '/tenants/{tenantId}/channels/{channelId}/messages', body: (w) => ({ body: w.marker, clientId: w.key }) },
    realtime: {
      frame: (channel, w) => ({ type: 'message.send', channelId: channel.params.channelId, body: w.marker, clientId: w.key, ref: w.ref }),
      acked: (f, ref) => f?.type === 'ack' && f.ref === ref,
      rejected: (f, ref) => f?.type === 'error' && f.ref === ref,
    },
    history: channelHistory,
  },

  /**
   * Recovery objectives for the backup-and-restore drill (scenarios/drills/backup-restore.ts).
   * RTO: restoring the reference database (a dump of tens of KB) and the pool's own
   * reconnect measure 0.2-1 s locally (bench/restore.ts), about 2 s when the data
   * directory is destroyed and a new cluster is made first; 30 s leaves room for a
   * loaded CI runner and a grown database. RPO: a logical backup loses what was
   * acknowledged after pg_dump's snapshot, i.e. the time since the backup; the drill
   * takes it 5 s before the disaster and measures about 5.1 s, so 30 s holds with margin.
   */
  recovery: { rto: '30s', rpo: '30s' },

  // The tenant-scoped reads that a per-tenant cache (the membership cache) sits behind.
  cache: {
    paths: (world) =>
      (['acme', 'globex'] as const).flatMap((t) => [
        { tenant: t, path: `/tenants/${world.tenants[t].id}` },
        { tenant: t, path: `/tenants/${world.tenants[t].id}/channels` },
        { tenant: t, path: `/tenants/${world.tenants[t].id}/members` },
      ]),
  },
});
