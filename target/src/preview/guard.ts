import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { HttpError } from '../errors.ts';

/** A URL that passed the guard, with the addresses it may be fetched from. */
export interface VettedUrl {
  url: URL;
  /** The checked address the request must connect to (never re-resolved). */
  address: string;
  family: 4 | 6;
}

export const urlNotAllowed = (why: string) => new HttpError(400, 'url_not_allowed', `the preview URL is not allowed: ${why}`);

/** IPv4 ranges that are routable on the public internet; everything else ipaddr.js names is refused. */
const PUBLIC_V4 = new Set(['unicast', 'as112', 'amt']);
/** IPv6 ranges that are public as such; ranges that embed an IPv4 address are unwrapped and checked as IPv4. */
const PUBLIC_V6 = new Set(['unicast', 'as112v6', 'amt']);

/** Ranges ipaddr.js does not name but that must never be fetched. */
const EXTRA_BLOCKED_V6: Array<[ipaddr.IPv6, number, string]> = [
  [ipaddr.IPv6.parse('fec0::'), 10, 'site-local'],
  [ipaddr.IPv6.parse('fd00:ec2::254'), 128, 'metadata'],
  [ipaddr.IPv6.parse('::'), 96, 'ipv4-compatible'],
  [ipaddr.IPv6.parse('64:ff9b:1::'), 48, 'nat64-local'],
];

function embeddedV4(v6: ipaddr.IPv6, fromPart: number): ipaddr.IPv4 {
  const p = v6.parts;
  return new ipaddr.IPv4([p[fromPart]! >> 8, p[fromPart]! & 0xff, p[fromPart + 1]! >> 8, p[fromPart + 1]! & 0xff]);
}

/**
 * Why an address must not be fetched, or null when it is a public unicast
 * address. IPv4 embedded in IPv6 (mapped, compatible, NAT64, SIIT, 6to4) is
 * judged as the IPv4 address it carries.
 */
export function blockedReason(address: string): string | null {
  if (!isIP(address)) return 'not an IP address';
  let ip = ipaddr.process(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    const range = v6.range();
    if (range === 'unspecified' || range === 'loopback') return range;
    if (range === 'rfc6052' || range === 'rfc6145') ip = embeddedV4(v6, 6);
    else if (range === '6to4') ip = embeddedV4(v6, 1);
    else {
      for (const [net, bits, name] of EXTRA_BLOCKED_V6) {
        if (!v6.match(net, bits)) continue;
        if (name === 'ipv4-compatible' || name === 'nat64-local') {
          ip = embeddedV4(v6, 6);
          break;
        }
        return name;
      }
      if (ip.kind() === 'ipv6') return PUBLIC_V6.has(range) ? null : range;
    }
  }
  const range = (ip as ipaddr.IPv4).range();
  return PUBLIC_V4.has(range) ? null : range;
}

/**
 * The `ssrf-loopback-only` regression: a guard that knows loopback (every
 * encoding the URL parser folds, and `localhost`) and the unspecified address,
 * but lets private, CGNAT, link-local and metadata addresses through.
 */
export function loopbackOnlyReason(address: string): string | null {
  const why = blockedReason(address);
  return why === 'loopback' || why === 'unspecified' || why === 'not an IP address' ? why : null;
}

export interface GuardOptions {
  /** Origins (scheme://host:port) exempt from the address check; for tests only. */
  allowOrigins: readonly string[];
  /** Why an address is refused, or null (default blockedReason); the `ssrf-loopback-only` flaw narrows it. */
  reasonFor?: (address: string) => string | null;
  /** Resolver, replaceable in unit tests. */
  resolve?: (host: string) => Promise<Array<{ address: string; family: number }>>;
}

function normaliseOrigin(o: string): string | null {
  try {
    return new URL(o).origin;
  } catch {
    return null;
  }
}

/** Builds the SSRF guard: parse, check the scheme, resolve the host, and check every address it resolves to. */
export function createGuard(options: GuardOptions): (raw: string | URL) => Promise<VettedUrl> {
  const allowed = new Set(options.allowOrigins.map(normaliseOrigin).filter((o): o is string => o !== null));
  const resolve = options.resolve ?? ((host: string) => lookup(host, { all: true, verbatim: true }));
  const reasonFor = options.reasonFor ?? blockedReason;
  return async (raw) => {
    let url: URL;
    try {
      // The WHATWG parser normalises decimal, octal, hex and short IPv4 hosts, so the check sees the real address.
      url = new URL(String(raw));
    } catch {
      throw urlNotAllowed('not a valid absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw urlNotAllowed(`scheme ${url.protocol} is not http or https`);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) throw urlNotAllowed('no host');
    // RFC 6761: `localhost` and everything under it is loopback, whatever a resolver says.
    if (/(^|\.)localhost\.?$/i.test(host) && !allowed.has(url.origin)) throw urlNotAllowed(`${host} is loopback`);
    let addresses: Array<{ address: string; family: number }>;
    try {
      addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolve(host.replace(/\.$/, ''));
    } catch (err) {
      throw new HttpError(502, 'fetch_failed', `could not resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (addresses.length === 0) throw new HttpError(502, 'fetch_failed', `${host} has no addresses`);
    if (!allowed.has(url.origin)) {
      for (const { address } of addresses) {
        const why = reasonFor(address);
        if (why) throw urlNotAllowed(`${host === address ? address : `${host} resolves to ${address}, which`} is ${why}`);
      }
    }
    const first = addresses[0]!;
    return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
  };
}
