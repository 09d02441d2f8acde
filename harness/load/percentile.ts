import { BreakwaterError } from '../errors.ts';

/**
 * The p-th percentile (p in 0..100) of values sorted ascending, computed
 * exactly like k6's TrendSink: no values give 0, one value gives itself, more
 * interpolate linearly between the closest ranks at i = (p / 100) * (n - 1).
 * The operations run in k6's order, so results match its summary and
 * thresholds bit for bit.
 */
export function percentile(sortedAscending: ArrayLike<number>, p: number): number {
  if (!Number.isFinite(p) || p < 0 || p > 100) {
    throw new BreakwaterError('BW_USAGE', `percentile p=${p} is outside 0..100; pass a percentage such as 95`);
  }
  const n = sortedAscending.length;
  if (n === 0) return 0;
  if (n === 1) return sortedAscending[0]!;
  const i = (p / 100) * (n - 1);
  const lo = sortedAscending[Math.floor(i)]!;
  const hi = sortedAscending[Math.ceil(i)]!;
  return lo + (hi - lo) * (i - Math.floor(i));
}

/** An ascending copy of the values, for {@link percentile} (a typed array sorts numerically). */
export function sortedCopy(values: Iterable<number>): Float64Array {
  return Float64Array.from(values).sort();
}
