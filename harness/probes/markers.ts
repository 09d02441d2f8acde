import { randomBytes } from 'node:crypto';

/**
 * Markers: `bw-<run>-<instance>-<writer>-<seq>`, every part lowercase letters
 * and digits. The instance part is random, so two writer sets of one run never
 * share a marker. A marker is recognised only as a whole token: the
 * characters around it must not be letters, digits or "-".
 */
const MARKER = /(?<![A-Za-z0-9-])bw-[a-z0-9]+-[a-z0-9]+-[a-z0-9]+-\d+(?![A-Za-z0-9-])/g;

/** The run and instance part of every marker one writer set makes. */
export function markerPrefix(runId: string): string {
  const run = runId.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 24) || 'run';
  return `bw-${run}-${randomBytes(3).toString('hex')}`;
}

export function makeMarker(prefix: string, writer: string, seq: number): string {
  return `${prefix}-${writer}-${seq}`;
}

/** Every marker in a payload text, each once. */
export function findMarkers(text: string): Set<string> {
  return new Set(text.match(MARKER) ?? []);
}
