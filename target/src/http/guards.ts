import type { Principal } from '../auth.ts';
import { forbidden } from '../errors.ts';
import type { Channel } from '../membership.ts';
import type { Services } from '../services.ts';

/** Tenant administration and bot creation are for people: a bot token gets 403. */
export function requireUser(principal: Principal): void {
  if (principal.kind !== 'user') throw forbidden('bots cannot use this route');
}

/**
 * Loads a channel of a tenant and requires the principal to read it.
 * A caller who may not read it gets 404, so channels cannot be probed.
 */
export async function readableChannel(s: Services, principal: Principal, tenantId: string, channelId: string): Promise<Channel> {
  const ch = await s.membership.channel(tenantId, channelId);
  await s.membership.requireRead(principal, ch);
  return ch;
}

/** Like `readableChannel`, and also requires the right to post (403 when the caller may read but not write). */
export async function writableChannel(s: Services, principal: Principal, tenantId: string, channelId: string): Promise<Channel> {
  const ch = await readableChannel(s, principal, tenantId, channelId);
  await s.membership.requireWrite(principal, ch);
  return ch;
}
