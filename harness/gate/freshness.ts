/** A duration as written in a gate policy: a whole number and one unit, e.g. `'90s'`, `'30m'`, `'24h'`, `'35d'`, `'2w'`. */
export type Duration = `${number}${'s' | 'm' | 'h' | 'd' | 'w'}`;

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^([1-9][0-9]{0,5})(s|m|h|d|w)$/;

/** The rule a duration must follow, for validation messages. */
export const DURATION_RULE = 'must be a duration: a whole number and a unit (s, m, h, d, w), e.g. "24h" or "35d"';

/** Milliseconds of a duration, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** A duration in the largest unit that keeps it readable: `30h`, `3d`, `45m`, `12s`. */
export function formatAge(ms: number): string {
  const abs = Math.abs(ms);
  if (abs >= 3 * UNIT_MS.d) return `${Math.floor(ms / UNIT_MS.d)}d`;
  if (abs >= 2 * UNIT_MS.h) return `${Math.floor(ms / UNIT_MS.h)}h`;
  if (abs >= 2 * UNIT_MS.m) return `${Math.floor(ms / UNIT_MS.m)}m`;
  return `${Math.floor(ms / UNIT_MS.s)}s`;
}

/** Clock skew tolerated before a timestamp counts as "in the future". */
export const CLOCK_SKEW_MS = 5 * 60_000;

export type Freshness =
  | { fresh: true; ageMs: number }
  | { fresh: false; ageMs: number; why: 'stale' | 'future' | 'undated' };

/**
 * Whether something that happened at `at` is at most `maxAgeMs` old at `now`.
 * Fails closed: an unparseable date is undated, a date more than a few minutes
 * ahead of `now` is in the future, and neither is fresh.
 */
export function freshness(at: string, maxAgeMs: number, now: Date): Freshness {
  const t = Date.parse(at);
  if (Number.isNaN(t)) return { fresh: false, ageMs: Number.NaN, why: 'undated' };
  const ageMs = now.getTime() - t;
  if (ageMs < -CLOCK_SKEW_MS) return { fresh: false, ageMs, why: 'future' };
  if (ageMs > maxAgeMs) return { fresh: false, ageMs, why: 'stale' };
  return { fresh: true, ageMs };
}
