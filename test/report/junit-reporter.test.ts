import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, test } from 'vitest';
import { renderJunit } from '../../harness/report/junit-reporter.ts';
import { sampleRunResult } from '../helpers/run-result.ts';

interface TestCase {
  '@_classname': string;
  '@_name': string;
  '@_time': string;
  failure?: { '@_message': string; '@_type': string; '#text': string };
  skipped?: unknown;
}

function parse(xml: string) {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', isArray: (name) => name === 'testsuite' || name === 'testcase' });
  return parser.parse(xml) as { testsuites: Record<string, string> & { testsuite: Array<Record<string, string> & { testcase: TestCase[] }> } };
}

describe('JUnit XML', () => {
  test('is well-formed, with one testcase per check and a failure per failed check', () => {
    const run = sampleRunResult();

    const xml = renderJunit(run);

    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = parse(xml);
    const cases = doc.testsuites.testsuite.flatMap((s) => s.testcase);
    expect(cases).toHaveLength(run.checks.length);
    expect(cases.filter((c) => c.failure)).toHaveLength(run.checks.filter((c) => c.state === 'failed').length);
    expect(cases.filter((c) => c.skipped !== undefined)).toHaveLength(1);
    expect(doc.testsuites['@_tests']).toBe(String(run.checks.length));
    expect(doc.testsuites['@_failures']).toBe('2');
    expect(doc.testsuites['@_skipped']).toBe('1');
  });

  test('classname is the suite file, name the test, time in seconds; the failure carries the error line and the findings', () => {
    const run = sampleRunResult();

    const cases = parse(renderJunit(run)).testsuites.testsuite.flatMap((s) => s.testcase);

    const matrix = cases.find((c) => c['@_classname'] === 'suites/authz/matrix.pr.test.ts')!;
    expect(matrix['@_name']).toBe('authz matrix > round 1: every denied cell stays denied');
    expect(matrix['@_time']).toBe('2.345');
    expect(matrix.failure!['@_message']).toBe('AssertionError: expected [ …(4) ] to deeply equal []');
    expect(matrix.failure!['@_type']).toBe('finding');
    for (const f of run.findings) expect(matrix.failure!['#text']).toContain(f.id);
    expect(matrix.failure!['#text']).toContain('observed: status 500');

    const cache = cases.find((c) => c['@_classname'] === 'suites/isolation/cache.pr.test.ts')!;
    expect(cache.failure!['@_type']).toBe('error');
    expect(cache.failure!['@_message']).toMatch(/ECONNREFUSED/);
  });

  test('text that is not valid in XML is replaced, so the file still parses', () => {
    const run = sampleRunResult();
    run.checks[1]!.error = 'bad byte \u0001 and <tag> & "quotes"';

    const xml = renderJunit(run);

    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).toContain('&lt;tag&gt; &amp;');
  });
});
