import { describe, expect, test } from 'vitest';
import { renderSarif } from '../../harness/report/sarif-reporter.ts';
import { sampleRunResult } from '../helpers/run-result.ts';
import { sarifSchemaErrors } from '../helpers/sarif.ts';

describe('SARIF 2.1.0', () => {
  test('validates against the official SARIF 2.1.0 schema', () => {
    const log = renderSarif(sampleRunResult());

    expect(sarifSchemaErrors(JSON.parse(JSON.stringify(log)))).toEqual([]);
  });

  test('the schema check is real: a log with a wrong level is rejected', () => {
    const log = JSON.parse(JSON.stringify(renderSarif(sampleRunResult())));
    log.runs[0].results[0].level = 'fatal';

    expect(sarifSchemaErrors(log).map((e) => e.instancePath)).toContain('/runs/0/results/0/level');
  });

  test('one result per finding, a rule per check, levels and security-severity from the severity', () => {
    const run = sampleRunResult();

    const { runs } = renderSarif(run);

    const [sarifRun] = runs;
    const rules = sarifRun!.tool.driver.rules!;
    expect(rules.map((r) => r.id)).toEqual(['authz.matrix', 'authz.server-error', 'authz.unexpected-deny']);
    for (const r of rules) expect(r.shortDescription?.text).toBeTruthy();
    expect(rules.find((r) => r.id === 'authz.matrix')!.properties!['security-severity']).toBe('9.5');
    const results = sarifRun!.results!;
    expect(results).toHaveLength(run.findings.length);
    const bySeverity = Object.fromEntries(run.findings.map((f, i) => [f.severity, results[i]!]));
    expect(bySeverity.critical!.level).toBe('error');
    expect(bySeverity.high!.level).toBe('error');
    expect(bySeverity.medium!.level).toBe('warning');
    expect(bySeverity.low!.level).toBe('note');
    expect(Object.fromEntries(Object.entries(bySeverity).map(([s, r]) => [s, r.properties!['security-severity']]))).toEqual({ critical: '9.5', high: '8.0', medium: '5.5', low: '3.0' });
    run.findings.forEach((f, i) => {
      const r = results[i]!;
      expect(r.ruleId).toBe(f.check);
      expect(rules[r.ruleIndex!]!.id).toBe(f.check);
      expect(r.partialFingerprints).toEqual({ 'breakwaterFindingId/v1': f.id });
      expect(r.locations![0]!.logicalLocations![0]!.name).toBe(f.subject);
      expect(r.locations![0]!.physicalLocation!.artifactLocation!.uri).toBe('suites/authz/matrix.pr.test.ts');
      expect(r.message.text).toContain(`Observed: ${f.observed}`);
      expect(r.message.text).toContain(`expected: ${f.expected}`);
    });
    expect(sarifRun!.automationDetails!.id).toBe(`breakwater/pr/${run.runId}`);
  });

  test('a clean run is a valid log with no results', () => {
    const run = { ...sampleRunResult(), findings: [], verdict: 'pass' as const };

    const log = renderSarif(run);

    expect(log.runs[0]!.results).toEqual([]);
    expect(sarifSchemaErrors(JSON.parse(JSON.stringify(log)))).toEqual([]);
  });
});
