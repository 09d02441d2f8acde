import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { HttpError } from '../errors.ts';
import type { VettedUrl } from './guard.ts';

export interface PreviewLimits {
  maxRedirects: number;
  /** Whole fetch, every hop included. */
  timeoutMs: number;
  /** Body bytes read from the final response; the rest is discarded. */
  maxBytes: number;
}

export const PREVIEW_LIMITS: PreviewLimits = { maxRedirects: 3, timeoutMs: 3000, maxBytes: 256 * 1024 };

export interface Preview {
  /** The URL the title came from (the last hop after redirects). */
  url: string;
  title: string | null;
  status: number;
}

/**
 * How each hop is checked: `vet` turns a URL into the address to connect to or
 * throws. For the initial URL and for redirect hops separately, so a flaw can
 * skip one of them.
 */
export interface HopPolicy {
  vetInitial(url: string): Promise<VettedUrl | URL>;
  vetRedirect(url: URL): Promise<VettedUrl | URL>;
}

const fetchFailed = (why: string) => new HttpError(502, 'fetch_failed', `the preview fetch failed: ${why}`);

/** A `lookup` that always answers with the vetted address, so a second DNS answer (rebinding) is never used. */
function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (options?.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  }) as LookupFunction;
}

interface Hop {
  status: number;
  location?: string;
  body: Buffer;
}

function requestOnce(target: VettedUrl | URL, limits: PreviewLimits, signal: AbortSignal): Promise<Hop> {
  const url = target instanceof URL ? target : target.url;
  const pinned = target instanceof URL ? undefined : target;
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<Hop>((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'GET',
        agent: false,
        signal,
        headers: { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.1', 'user-agent': 'reference-target-preview/1' },
        ...(pinned ? { lookup: pinnedLookup(pinned.address, pinned.family) } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          resolve({ status, location: res.headers.location, body: Buffer.alloc(0) });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          const room = limits.maxBytes - size;
          chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
          size += Math.min(chunk.length, room);
          if (size >= limits.maxBytes) {
            res.destroy();
            resolve({ status, body: Buffer.concat(chunks) });
          }
        });
        res.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** The document's `<title>`, entity-decoded, whitespace-collapsed, at most 200 characters. */
export function extractTitle(html: string): string | null {
  const m = /<title[^>]*>([\s\S]*?)<\/title\s*>/i.exec(html);
  if (!m) return null;
  const text = m[1]!
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, ent: string) => {
      if (ent[0] === '#') {
        const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
      }
      return ENTITIES[ent.toLowerCase()] ?? all;
    })
    .replace(/\s+/g, ' ')
    .trim();
  return [...text].slice(0, 200).join('');
}

/** Rejects when the overall deadline passes first (DNS lookups cannot be aborted, only abandoned). */
function beforeDeadline<T>(work: Promise<T>, signal: AbortSignal, limits: PreviewLimits): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(fetchFailed(`no complete answer within ${limits.timeoutMs} ms`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Fetches a page for its title, following at most `maxRedirects` redirects, each vetted by `policy`. */
export async function fetchPreview(rawUrl: string, policy: HopPolicy, limits: PreviewLimits = PREVIEW_LIMITS): Promise<Preview> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let target = await beforeDeadline(policy.vetInitial(rawUrl), signal, limits);
  for (let redirects = 0; ; redirects++) {
    let hop: Hop;
    try {
      hop = await requestOnce(target, limits, signal);
    } catch (err) {
      if (signal.aborted) throw fetchFailed(`no complete answer within ${limits.timeoutMs} ms`);
      throw fetchFailed((err as NodeJS.ErrnoException).code ?? (err as Error).message);
    }
    const current = target instanceof URL ? target : target.url;
    if (hop.location === undefined) return { url: current.href, title: extractTitle(hop.body.toString('utf8')), status: hop.status };
    if (redirects >= limits.maxRedirects) throw fetchFailed(`more than ${limits.maxRedirects} redirects`);
    let next: URL;
    try {
      next = new URL(hop.location, current);
    } catch {
      throw fetchFailed(`redirect to an invalid URL`);
    }
    target = await beforeDeadline(policy.vetRedirect(next), signal, limits);
  }
}
