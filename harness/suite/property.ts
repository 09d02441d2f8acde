import fc from 'fast-check';
import type { TestContext } from 'vitest';
import type { Severity } from '../config/target.ts';
import { findingId, type Finding } from '../run/result.ts';
import { classifyError } from './outcome.ts';
import type { TargetContext } from './use-target.ts';

export interface PropertySpec<T> {
  /** Check id of the finding a counterexample becomes. */
  check: string;
  suite: string;
  /** Stable subject (the event, route or endpoint); part of the finding id, and what `replay` matches. */
  subject: string;
  severity: Severity;
  title: string;
  arbitrary: fc.Arbitrary<T>;
  /**
   * Returns undefined when the case holds, or what was observed when it does
   * not (one line). Throwing means the case could not be judged (a network
   * error, a timeout, a dead target): it is counted as inconclusive, never as
   * the property's finding.
   */
  holds(value: T): Promise<string | undefined>;
  expected: string;
  /** Runs for this property; default the tier's numRuns. */
  numRuns?: number;
}

/** Thrown inside the property so fast-check shrinks on it. */
class Violation extends Error {}

/**
 * Runs one fast-check property against the live target with the run's seed.
 * A failure shrinks to a minimal case and becomes one finding whose reproduce
 * carries the seed and the counterexample path; `breakwater replay` re-runs
 * exactly that case. Returns the finding, if any.
 */
export async function checkProperty<T>(target: TargetContext, task: TestContext['task'], spec: PropertySpec<T>): Promise<Finding | undefined> {
  const replay = target.run.replay;
  const replaying = replay && replay.check === spec.check && replay.subject === spec.subject ? replay : undefined;
  if (replay && !replaying) return undefined;
  let lastObserved = '';
  let inconclusive = 0;
  const property = fc.asyncProperty(spec.arbitrary, async (value) => {
    let observed: string | undefined;
    try {
      observed = await spec.holds(value);
    } catch (err) {
      // Not a violation: the case said nothing. fast-check sees it hold, so it is neither shrunk nor reported.
      inconclusive++;
      target.tally(task, `${spec.subject} (run ${inconclusive})`, classifyError(err));
      return;
    }
    target.tally(task, spec.subject, 'judged');
    if (observed !== undefined) {
      lastObserved = observed;
      throw new Violation(observed);
    }
  });
  const details = await fc.check(property, {
    seed: replaying?.seed ?? target.run.fcSeed,
    path: replaying?.path,
    numRuns: replaying ? 1 : (spec.numRuns ?? target.run.numRuns),
    endOnFailure: !!replaying,
    interruptAfterTimeLimit: 120_000,
  });
  if (details.interrupted && !details.failed) {
    target.tally(task, `${spec.subject} (time limit)`, { verdict: 'inconclusive', why: `stopped by the time limit after ${details.numRuns} of ${spec.numRuns ?? target.run.numRuns} runs` });
  }
  if (!details.failed) return undefined;
  const firstObserved = (lastObserved || (details.errorInstance as Error | undefined)?.message || 'failed').split('\n')[0]!.slice(0, 300);
  const example = details.counterexample?.[0];
  // Confirmation: the shrunk counterexample itself, run once more on the same stack, must fail again (a replay is its own confirmation).
  let unconfirmed: string | undefined;
  if (!replaying && details.counterexample) {
    try {
      if ((await spec.holds(example as T)) === undefined) unconfirmed = 'the shrunk counterexample held when run once more on the same stack';
    } catch (err) {
      unconfirmed = `the shrunk counterexample could not be judged when run once more (${classifyError(err).why})`;
    }
  }
  let shown: string;
  try {
    shown = JSON.stringify(example, (_k, v) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}…(${v.length} chars)` : v)) ?? String(example);
  } catch {
    shown = String(example);
  }
  return target.report(task, {
    check: spec.check,
    suite: spec.suite,
    severity: spec.severity,
    title: spec.title,
    subject: spec.subject,
    observed: firstObserved,
    expected: spec.expected,
    excerpt: `counterexample (shrunk): ${shown.slice(0, 1500)}`,
    reproduce: {
      seed: details.seed,
      path: details.counterexamplePath ?? undefined,
      command: `npx breakwater replay ${findingId(spec.check, spec.subject)} --run ${target.run.outDir}`,
    },
  }, unconfirmed ? { unconfirmed } : undefined);
}
