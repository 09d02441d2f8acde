import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Auth, type Principal, type Scope } from '../../src/auth.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database } from '../../src/db.ts';
import type { Channel, Role } from '../../src/membership.ts';
import type { RunningTarget } from './target.ts';

/** A user, a tenant they own and a public channel in it, written straight to the database. */
export interface Seeded {
  userId: string;
  tenantId: string;
  channelId: string;
  token: string;
  principal: Principal;
  channel: Channel;
}

/**
 * Seeds through SQL rather than the HTTP API, so tests of the preview and of
 * resilience do not depend on the API routes; the token is minted by the instance itself.
 */
export async function seed(running: RunningTarget): Promise<Seeded> {
  const c = new pg.Client({ connectionString: running.databaseUrl });
  await c.connect();
  try {
    const email = `u-${randomUUID()}@example.test`;
    const userId = (await c.query<{ id: string }>("INSERT INTO users (email, display_name) VALUES ($1, 'Seed') RETURNING id", [email])).rows[0]!.id;
    const tenantId = (await c.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('seed') RETURNING id")).rows[0]!.id;
    await c.query("INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, 'owner')", [tenantId, userId]);
    const channelId = (await c.query<{ id: string }>("INSERT INTO channels (tenant_id, name, created_by) VALUES ($1, 'general', $2) RETURNING id", [tenantId, userId])).rows[0]!.id;
    await c.query('INSERT INTO channel_members (channel_id, user_id) VALUES ($1, $2)', [channelId, userId]);
    const token = await running.app.services.auth.issue(userId);
    const principal = await running.app.services.auth.authenticate(token);
    const channel: Channel = { id: channelId, tenant_id: tenantId, name: 'general', private: false, created_by: userId };
    return { userId, tenantId, channelId, token, principal, channel };
  } finally {
    await c.end();
  }
}

/** The JWT secret `startTarget` configures; child-process targets in tests use it too. */
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough';

/**
 * Writes rows straight into a target's database (tables of
 * target/migrations/001_init.sql), so a test does not depend on the HTTP
 * routes. Seed before a user's first request: the target caches tenant roles
 * in Redis for 60 s.
 */
export interface Seeder {
  tenant(name?: string): Promise<string>;
  /** A human user; returns its id. */
  user(displayName?: string): Promise<string>;
  member(tenantId: string, userId: string, role: Role): Promise<void>;
  /** A bot of `tenantId` with `scopes`, also a plain member of the tenant; returns its user id. */
  bot(tenantId: string, createdBy: string, scopes: Scope[]): Promise<string>;
  /** A channel; its creator becomes a channel member, as the HTTP route does. */
  channel(tenantId: string, createdBy: string, opts?: { name?: string; private?: boolean }): Promise<string>;
  channelMember(channelId: string, userId: string): Promise<void>;
  removeChannelMember(channelId: string, userId: string): Promise<void>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  close(): Promise<void>;
}

/** A seeder on `databaseUrl`; close it when the test file is done. */
export function seeder(databaseUrl: string): Seeder {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const one = async (sql: string, params: unknown[]) => (await pool.query<{ id: string }>(sql, params)).rows[0]!.id;
  return {
    tenant: (name = `tenant-${randomUUID().slice(0, 8)}`) => one('INSERT INTO tenants (name) VALUES ($1) RETURNING id', [name]),
    user: (displayName = `user-${randomUUID().slice(0, 8)}`) =>
      one('INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING id', [`${randomUUID()}@example.test`, displayName]),
    async member(tenantId, userId, role) {
      await pool.query('INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, $3)', [tenantId, userId, role]);
    },
    async bot(tenantId, createdBy, scopes) {
      const id = await one(`INSERT INTO users (display_name, kind) VALUES ($1, 'bot') RETURNING id`, [`bot-${randomUUID().slice(0, 8)}`]);
      await pool.query('INSERT INTO bots (user_id, tenant_id, scopes, created_by) VALUES ($1, $2, $3, $4)', [id, tenantId, scopes, createdBy]);
      await pool.query(`INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, 'member')`, [tenantId, id]);
      return id;
    },
    async channel(tenantId, createdBy, opts = {}) {
      const id = await one('INSERT INTO channels (tenant_id, name, private, created_by) VALUES ($1, $2, $3, $4) RETURNING id', [
        tenantId,
        opts.name ?? `channel-${randomUUID().slice(0, 8)}`,
        opts.private ?? false,
        createdBy,
      ]);
      await pool.query('INSERT INTO channel_members (channel_id, user_id) VALUES ($1, $2)', [id, createdBy]);
      return id;
    },
    async channelMember(channelId, userId) {
      await pool.query('INSERT INTO channel_members (channel_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [channelId, userId]);
    },
    async removeChannelMember(channelId, userId) {
      await pool.query('DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2', [channelId, userId]);
    },
    query: (sql, params = []) => pool.query(sql, params),
    close: () => pool.end(),
  };
}

/**
 * A tenant with one user of each role, a public and a private channel (only
 * the owner is in it), and a second tenant with its own owner and channel.
 */
export interface Workspace {
  tenantId: string;
  owner: string;
  admin: string;
  member: string;
  guest: string;
  publicChannel: string;
  privateChannel: string;
  otherTenantId: string;
  /** Owner of the other tenant; in no role in `tenantId`. */
  outsider: string;
  otherTenantChannel: string;
}

export async function seedWorkspace(db: Seeder): Promise<Workspace> {
  const [tenantId, otherTenantId] = await Promise.all([db.tenant(), db.tenant()]);
  const [owner, admin, member, guest, outsider] = await Promise.all([db.user('owner'), db.user('admin'), db.user('member'), db.user('guest'), db.user('outsider')]);
  await Promise.all([
    db.member(tenantId, owner, 'owner'),
    db.member(tenantId, admin, 'admin'),
    db.member(tenantId, member, 'member'),
    db.member(tenantId, guest, 'guest'),
    db.member(otherTenantId, outsider, 'owner'),
  ]);
  const [publicChannel, privateChannel, otherTenantChannel] = await Promise.all([
    db.channel(tenantId, owner, { name: 'general' }),
    db.channel(tenantId, owner, { name: 'secret', private: true }),
    db.channel(otherTenantId, outsider, { name: 'elsewhere' }),
  ]);
  return { tenantId, owner, admin, member, guest, publicChannel, privateChannel, otherTenantId, outsider, otherTenantChannel };
}

/** Anything that can mint access tokens: a running target's `services.auth`, or {@link tokenIssuer}. */
export type TokenIssuer = Pick<Auth, 'issue'>;

/**
 * Mints tokens signed with `secret`, for targets running outside the test
 * process. Issuing never touches the database, so none is given.
 */
export function tokenIssuer(secret = TEST_JWT_SECRET): TokenIssuer {
  const config = loadConfig({ JWT_SECRET: secret, DATABASE_URL: 'postgres://unused', REDIS_URL: 'redis://unused' });
  return new Auth(config, undefined as unknown as Database);
}

export function issuerOf(target: RunningTarget): TokenIssuer {
  return target.app.services.auth;
}

/** A user access token. */
export const userToken = (issuer: TokenIssuer, userId: string) => issuer.issue(userId);

/** A bot access token carrying its tenant and scopes, as bot creation issues it. */
export const botToken = (issuer: TokenIssuer, botId: string, tenantId: string, scopes: Scope[]) =>
  issuer.issue(botId, { kind: 'bot', tid: tenantId, scp: scopes });
