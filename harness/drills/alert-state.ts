import { oneLine } from '../errors.ts';
import { seriesKey, type Labels } from './prom-exposition.ts';
import type { SeriesStore } from './prom-series.ts';
import { evaluate } from './promql.ts';
import type { AlertRule } from './alert-rules.ts';

/**
 * One alert instance's active period, as Prometheus' rule manager would have
 * seen it: pending from the first evaluation where the expression returned
 * its labels, firing once that has held for the rule's `for:`, resolved at the
 * first evaluation where it no longer returned them.
 */
export interface AlertEpisode {
  alert: string;
  /** The result sample's labels (without the metric name), then the rule's labels. */
  labels: Labels;
  severity?: string;
  runbook?: string;
  pendingAt: number;
  firingAt?: number;
  /** When a firing alert stopped; absent while it was still firing at the last evaluation. */
  resolvedAt?: number;
  /** When a pending alert went away without firing. */
  cancelledAt?: number;
  /** The expression's value at the last evaluation that returned it. */
  value: number;
}

export interface RuleEvaluation {
  alert: string;
  group: string;
  episodes: AlertEpisode[];
  evaluations: number;
  /** Evaluations that failed (e.g. one-to-one matching broken by the data), with the first reason. */
  errors: number;
  firstError?: string;
}

/**
 * Evaluates every rule at each of the given times (epoch ms, ascending),
 * honouring `for:`. Each evaluation reads only data at or before its time,
 * exactly as a rule manager evaluating at those instants would.
 */
export function evaluateAlertRules(rules: AlertRule[], store: SeriesStore, times: readonly number[]): RuleEvaluation[] {
  return rules.map((rule) => {
    const result: RuleEvaluation = { alert: rule.alert, group: rule.group, episodes: [], evaluations: 0, errors: 0 };
    const active = new Map<string, AlertEpisode>();
    for (const t of times) {
      result.evaluations++;
      let samples: Array<{ labels: Labels; v: number }>;
      try {
        const v = evaluate(rule.ast, store, t);
        samples = v.kind === 'scalar' ? [{ labels: {}, v: v.v }] : v.samples;
      } catch (err) {
        // Like Prometheus: a failed evaluation leaves the alerts as they were.
        result.errors++;
        result.firstError ??= oneLine(err);
        continue;
      }
      const seen = new Set<string>();
      for (const s of samples) {
        const { __name__: _, ...own } = s.labels;
        const labels: Labels = { ...own, ...rule.labels, alertname: rule.alert };
        const key = seriesKey(undefined, labels);
        seen.add(key);
        let ep = active.get(key);
        if (!ep) {
          ep = { alert: rule.alert, labels, ...(rule.severity ? { severity: rule.severity } : {}), ...(rule.runbook ? { runbook: rule.runbook } : {}), pendingAt: t, value: s.v };
          active.set(key, ep);
          result.episodes.push(ep);
        }
        ep.value = s.v;
        if (ep.firingAt === undefined && t - ep.pendingAt >= rule.forMs) ep.firingAt = t;
      }
      for (const [key, ep] of active) {
        if (seen.has(key)) continue;
        if (ep.firingAt !== undefined) ep.resolvedAt = t;
        else ep.cancelledAt = t;
        active.delete(key);
      }
    }
    return result;
  });
}
