import type { Redis } from 'ioredis';
import type { Principal } from './auth.ts';
import type { TargetConfig } from './config.ts';
import type { Database } from './db.ts';
import { forbidden, notFound } from './errors.ts';
import { redisCall } from './redis.ts';

export type Role = 'owner' | 'admin' | 'member' | 'guest';
export const ROLE_RANK: Record<Role, number> = { guest: 0, member: 1, admin: 2, owner: 3 };

export interface Channel {
  id: string;
  tenant_id: string;
  name: string;
  private: boolean;
  created_by: string;
}

const CACHE_TTL_SECONDS = 60;

/**
 * Tenant roles and channel membership, with the tenant role cached in Redis.
 * Every authorization decision in the service goes through here.
 */
export class Membership {
  constructor(
    private readonly config: TargetConfig,
    private readonly db: Database,
    private readonly redis: Redis,
  ) {}

  private cacheKey(tenantId: string, userId: string): string {
    // The cache key must carry the tenant: a user can belong to several tenants.
    return this.config.flaws.has('cache-key-no-tenant') ? `bw:member:${userId}` : `bw:member:${tenantId}:${userId}`;
  }

  /** The caller's role in a tenant, or null when not a member. Bots are limited to their own tenant. */
  async role(tenantId: string, principal: Principal): Promise<Role | null> {
    if (principal.kind === 'bot' && principal.botTenantId !== tenantId) return null;
    const key = this.cacheKey(tenantId, principal.userId);
    const cached = await redisCall(() => this.redis.get(key));
    if (cached) return cached === 'none' ? null : (cached as Role);
    const { rows } = await this.db.query<{ role: Role }>('SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2', [tenantId, principal.userId], 'tenant-role');
    const role = rows[0]?.role ?? null;
    await redisCall(() => this.redis.set(key, role ?? 'none', 'EX', CACHE_TTL_SECONDS));
    return role;
  }

  async invalidate(tenantId: string, userId: string): Promise<void> {
    await redisCall(() => this.redis.del(this.cacheKey(tenantId, userId)));
  }

  /** Requires at least `min` in the tenant. Non-members get 404 so tenants cannot be probed. */
  async requireRole(tenantId: string, principal: Principal, min: Role = 'guest'): Promise<Role> {
    const role = await this.role(tenantId, principal);
    if (!role) throw notFound('tenant not found');
    if (ROLE_RANK[role] < ROLE_RANK[min]) throw forbidden(`requires role ${min}`);
    return role;
  }

  async channel(tenantId: string, channelId: string): Promise<Channel> {
    const { rows } = await this.db.query<Channel>('SELECT id, tenant_id, name, private, created_by FROM channels WHERE id = $1', [channelId], 'channel');
    return this.visibleChannel(tenantId, rows[0]);
  }

  /** The second half of `channel`, for a row read elsewhere: 404 when there is none or it belongs to another tenant. */
  visibleChannel(tenantId: string, ch: Channel | undefined): Channel {
    if (!ch) throw notFound('channel not found');
    if (ch.tenant_id !== tenantId && !this.config.flaws.has('channel-read-cross-tenant')) throw notFound('channel not found');
    return ch;
  }

  async isChannelMember(channelId: string, userId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM channel_members WHERE channel_id = $1 AND user_id = $2', [channelId, userId], 'channel-member');
    return (rowCount ?? 0) > 0;
  }

  /**
   * Whether the principal may read a channel: a tenant member may read public
   * channels (guests only those they were added to); private channels need membership.
   */
  async canRead(principal: Principal, ch: Channel): Promise<boolean> {
    if (this.config.flaws.has('channel-read-cross-tenant') && !ch.private) return true;
    const role = await this.role(ch.tenant_id, principal);
    if (!role) return false;
    if (!ch.private && role !== 'guest') return true;
    return this.isChannelMember(ch.id, principal.userId);
  }

  /** Posting follows reading: whoever may read a channel may post into it. */
  async canWrite(principal: Principal, ch: Channel): Promise<boolean> {
    const role = await this.role(ch.tenant_id, principal);
    if (!role) return false;
    if (!ch.private && role !== 'guest') return true;
    return this.isChannelMember(ch.id, principal.userId);
  }

  async requireRead(principal: Principal, ch: Channel): Promise<void> {
    if (!(await this.canRead(principal, ch))) throw notFound('channel not found');
  }

  async requireWrite(principal: Principal, ch: Channel): Promise<void> {
    if (!(await this.canWrite(principal, ch))) throw forbidden('not a member of this channel');
  }

  /**
   * `requireRead` then `requireWrite` (404 when the caller may not read, else 403
   * when they may not post), deciding the role and membership once: apart from
   * the cross-tenant flaw's shortcut, reading and posting are the same decision.
   */
  async requireReadWrite(principal: Principal, ch: Channel): Promise<void> {
    const readsAnyway = this.config.flaws.has('channel-read-cross-tenant') && !ch.private;
    if (await this.canWrite(principal, ch)) return;
    throw readsAnyway ? forbidden('not a member of this channel') : notFound('channel not found');
  }
}

/** Requires a scope; user tokens hold every scope, bot tokens only their own. */
export function requireScope(config: TargetConfig, principal: Principal, scope: string): void {
  if (config.flaws.has('bot-scope-ignored')) return;
  if (!principal.scopes.has(scope as never)) throw forbidden(`token lacks scope ${scope}`);
}
