import { isIP } from 'node:net';
import { BreakwaterError } from '../errors.ts';

/** Whether a host is on the allowlist. Loopback in any spelling counts as loopback. */
export function isAllowedHost(host: string, allowlist: readonly string[]): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
  for (const entry of allowlist.map((e) => e.toLowerCase())) {
    if (entry === h) return true;
    if (loopback && ['127.0.0.1', 'localhost', '::1', 'loopback'].includes(entry)) return true;
    if (entry.startsWith('*.') && h.endsWith(entry.slice(1))) return true;
  }
  return false;
}

/**
 * Refuses a URL whose host is not on the allowlist. Called before the first
 * packet to any target, so a typo in a staging URL never sends traffic elsewhere.
 */
export function assertAllowed(url: string, allowlist: readonly string[], what = 'target'): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BreakwaterError('BW_USAGE', `${what} "${url}" is not a valid URL; pass e.g. http://127.0.0.1:3000`);
  }
  if (!isAllowedHost(parsed.hostname, allowlist)) {
    throw new BreakwaterError(
      'BW_TARGET_NOT_ALLOWED',
      `${what} host "${parsed.hostname}" is not on the allowlist (${allowlist.join(', ')}); add it to \`allowlist\` in breakwater.config.ts if you own it`,
    );
  }
  return parsed;
}
