import { create } from 'xmlbuilder2';
import type { CheckResult, Finding, RunResult } from '../run/result.ts';
import { findingsOfCheck, testName } from './group-findings.ts';
import type { Reporter } from './reporter.ts';

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

function describeFinding(f: Finding): string {
  return [
    `[${f.severity}] ${f.check} ${f.id}: ${f.title}`,
    `  subject:  ${f.subject}`,
    `  observed: ${f.observed}`,
    `  expected: ${f.expected}`,
    `  reproduce: ${f.reproduce.command}`,
  ].join('\n');
}

/**
 * JUnit XML as CI test tabs read it: one `<testsuite>` per suite file and one
 * `<testcase>` per check (classname = suite file, name = test name, time in
 * seconds). A failed check has a `<failure>` whose message is the first error
 * line and whose body lists the check's findings; a skipped check has `<skipped/>`.
 */
export function renderJunit(result: RunResult): string {
  const checks = result.checks ?? [];
  const count = (list: CheckResult[], state: CheckResult['state']) => list.filter((c) => c.state === state).length;
  const doc = create({ version: '1.0', encoding: 'UTF-8', invalidCharReplacement: '\uFFFD' });
  const root = doc.ele('testsuites', {
    name: `breakwater ${result.tier} ${result.target?.name ?? ''}`.trim(),
    tests: checks.length,
    failures: count(checks, 'failed'),
    skipped: count(checks, 'skipped'),
    errors: 0,
    time: seconds(result.durationMs ?? 0),
    timestamp: result.startedAt,
  });
  const suites = new Map<string, CheckResult[]>();
  for (const c of checks) suites.set(c.suite, [...(suites.get(c.suite) ?? []), c]);
  for (const [suite, list] of suites) {
    const el = root.ele('testsuite', {
      name: suite,
      tests: list.length,
      failures: count(list, 'failed'),
      skipped: count(list, 'skipped'),
      errors: 0,
      time: seconds(list.reduce((t, c) => t + c.durationMs, 0)),
      timestamp: result.startedAt,
    });
    const props = el.ele('properties');
    props.ele('property', { name: 'breakwater.runId', value: result.runId });
    props.ele('property', { name: 'breakwater.verdict', value: result.verdict });
    props.ele('property', { name: 'breakwater.seed', value: String(result.seeds?.fastCheck ?? '') });
    for (const c of list) {
      const tc = el.ele('testcase', { classname: suite, name: testName(c), time: seconds(c.durationMs) });
      if (c.state === 'failed') {
        const findings = findingsOfCheck(c, result);
        const message = c.error ?? (findings.length ? `${findings.length} finding(s)` : 'failed');
        const body = [c.error, ...findings.map(describeFinding)].filter(Boolean).join('\n\n');
        tc.ele('failure', { message, type: findings.length ? 'finding' : 'error' }).txt(body);
      } else if (c.state === 'skipped') {
        tc.ele('skipped', c.note ? { message: c.note } : {});
      }
    }
  }
  return doc.end({ prettyPrint: true }) + '\n';
}

/** Writes `junit.xml`. */
export function junitReporter(): Reporter {
  return {
    name: 'junit',
    async onRunEnd(result, ctx) {
      return ctx.emit('junit.xml', renderJunit(result));
    },
  };
}
