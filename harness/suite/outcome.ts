import type { DenyOracle } from '../config/target.ts';

/**
 * The one outcome oracle. Every response a suite judges is read once, from the
 * profile's deny rules, as one of:
 * - `allowed`: the request was served (2xx or 3xx that no deny rule claims);
 * - `denied`: a declared deny status, a 2xx body the profile's `emptyBody`
 *   calls a denial, or another 4xx (the request was not served);
 * - `inconclusive`: the service did not decide: rate-limited (429), unavailable
 *   (502, 503, 504), a request timeout (408), another 5xx, or no answer at all
 *   (connection refused or reset, a timeout). Such a case says nothing about the
 *   boundary: it is retried within a bound, and if it stays inconclusive it is
 *   counted as such, never as a pass and never as a finding.
 */
export type OutcomeVerdict = 'allowed' | 'denied' | 'inconclusive';

export interface Outcome {
  verdict: OutcomeVerdict;
  /** One line: why this verdict, e.g. "rate-limited (429)". */
  why: string;
  /** For `denied`: the profile's own rules said so (a deny status or `emptyBody`), not merely a 4xx. */
  declared?: boolean;
}

const UNAVAILABLE = new Set([502, 503, 504]);

/** Classifies a response under the profile's deny rules. */
export function classifyResponse(ex: { status: number; body: unknown }, deny: DenyOracle): Outcome {
  const { status } = ex;
  if (status === 429) return { verdict: 'inconclusive', why: 'rate-limited (429)' };
  if (UNAVAILABLE.has(status)) return { verdict: 'inconclusive', why: `unavailable (${status})` };
  if (status === 408) return { verdict: 'inconclusive', why: 'request timeout (408)' };
  if (status >= 500) return { verdict: 'inconclusive', why: `server error (${status})` };
  if (deny.statuses.includes(status)) return { verdict: 'denied', why: `status ${status} is a declared denial`, declared: true };
  if (status < 300 && deny.emptyBody?.(ex.body)) return { verdict: 'denied', why: `status ${status} with a body the profile's emptyBody calls a denial`, declared: true };
  if (status >= 400) return { verdict: 'denied', why: `status ${status}: not served (not a declared denial)`, declared: false };
  return { verdict: 'allowed', why: `status ${status}` };
}

/** Classifies a request that got no response: always inconclusive, with the reason in a few words. */
export function classifyError(err: unknown): Outcome {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const code = e?.code ?? e?.cause?.code;
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
        ? 'connection reset'
        : code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT'
          ? 'no answer in time'
          : `no response (${code ?? (e?.message ?? String(err)).split('\n')[0]!.slice(0, 80)})`;
  return { verdict: 'inconclusive', why };
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Wait before the second attempt; doubles each time. */
  backoffMs: number;
  /** The longest `Retry-After` honoured. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, backoffMs: 250, maxRetryAfterMs: 2_000 };

/**
 * How long to wait before the next attempt: the response's `Retry-After`
 * (seconds or an HTTP date) when it gives one, within the bound; else backoff.
 */
export function retryDelayMs(attempt: number, policy: RetryPolicy, retryAfter?: string | null, now = Date.now()): number {
  const backoff = policy.backoffMs * 2 ** (attempt - 1);
  if (!retryAfter) return backoff;
  const secs = Number(retryAfter);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, policy.maxRetryAfterMs) : backoff;
}
