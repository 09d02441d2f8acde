import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Log } from 'sarif';
import { runTierCli, type TierRun } from '../helpers/tier.ts';
import { sarifSchemaErrors } from '../helpers/sarif.ts';

/**
 * A real run: `breakwater run --suite authz/matrix --out <tmp> --json` against
 * the reference target with a cross-tenant read switched on, so every report
 * has findings and a failing matrix cell to show.
 */
describe('a real run writes every report', () => {
  let tier: TierRun;
  const read = (file: string) => readFileSync(join(tier.out, file), 'utf8');

  beforeAll(async () => {
    tier = await runTierCli({ suites: ['authz/matrix'], flaws: ['channel-read-cross-tenant'] });
  }, 240_000);

  test('the run is blocked by the cross-tenant read and writes junit.xml, results.sarif, summary.md and report.html', () => {
    expect(tier.cli.code, tier.cli.stderr.slice(-1000)).toBe(1);
    expect(JSON.parse(tier.cli.stdout.trim().split('\n').pop()!)).toMatchObject({ verdict: 'blocked', out: tier.out });
    for (const f of ['junit.xml', 'results.sarif', 'summary.md', 'report.html']) expect(read(f).length, f).toBeGreaterThan(100);
  });

  test('the reports agree with run.json', () => {
    const { run } = tier;
    expect(run.matrix?.length).toBeGreaterThan(0);
    expect(run.matrix!.some((c) => !c.pass)).toBe(true);

    const junit = new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'testsuite' || n === 'testcase' }).parse(read('junit.xml'));
    const cases = junit.testsuites.testsuite.flatMap((s: { testcase: unknown[] }) => s.testcase) as Array<{ failure?: unknown }>;
    expect(cases).toHaveLength(run.checks.length);
    expect(cases.filter((c) => c.failure)).toHaveLength(run.checks.filter((c) => c.state === 'failed').length);

    const sarif = JSON.parse(read('results.sarif')) as Log;
    expect(sarifSchemaErrors(sarif)).toEqual([]);
    expect(sarif.runs[0]!.results).toHaveLength(run.findings.length);
    expect(sarif.runs[0]!.results!.some((r) => r.level === 'error' && r.properties?.['security-severity'] === '9.5')).toBe(true);

    expect(read('summary.md').split('\n')[0]).toMatch(/^## Breakwater pr tier on reference-chat .*: ❌ BLOCKED$/);

    const html = read('report.html');
    expect(html).not.toMatch(/<script|<link/i);
    const gridCells = html.match(/<table class="grid">[\s\S]*?<\/table>/)![0].match(/<td class="(?:pass|fail)/g)!;
    expect(gridCells.length).toBe(new Set(run.matrix!.map((c) => `${c.principal}/${c.resource}/${c.op}`)).size);
    expect(html).toContain('No chaos scenarios in this run.');
  });

  test('no token reaches a report', () => {
    for (const f of ['junit.xml', 'results.sarif', 'summary.md', 'report.html']) expect(read(f), f).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\./);
  });
});
