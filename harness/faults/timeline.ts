import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultStep } from '../config/scenario.ts';
import { spanMs } from '../config/scenario.ts';
import type { FaultInjector } from './injector.ts';

interface TimelineEvent {
  t: number;
  kind: 'apply' | 'remove';
  i: number;
}

/** The method's events in order: removals before applications at the same instant. */
export function timelineEvents(steps: FaultStep[]): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  steps.forEach((s, i) => {
    const at = spanMs(s.at)!;
    events.push({ t: at, kind: 'apply', i }, { t: at + spanMs(s.for)!, kind: 'remove', i });
  });
  return events.sort((a, b) => a.t - b.t || (a.kind === b.kind ? a.i - b.i : a.kind === 'remove' ? -1 : 1));
}

/**
 * Runs the method: each fault goes in place at its offset from `startAt` and
 * comes out at the end of its span. An event never runs early; when an
 * earlier event took long (a restart waits for health), later ones run late
 * and the journal shows the real times. Aborting stops between events; the
 * caller's rollback removes what is still in place.
 */
export async function runTimeline(steps: FaultStep[], injector: FaultInjector, opts: { startAt: number; signal: AbortSignal; onEvent?: (text: string) => void }): Promise<void> {
  for (const ev of timelineEvents(steps)) {
    const wait = opts.startAt + ev.t - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal: opts.signal });
    opts.signal.throwIfAborted();
    if (ev.kind === 'apply') {
      const rec = await injector.apply(ev.i, steps[ev.i]!);
      opts.onEvent?.(`fault on: ${rec.label}`);
    } else {
      await injector.remove(ev.i);
      opts.onEvent?.(`fault off: ${injector.label(ev.i)}`);
    }
  }
}
