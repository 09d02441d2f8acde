import { describe, expect, test } from 'vitest';
import { mdCell, renderMarkdown } from '../../harness/report/markdown-reporter.ts';
import { sampleRunResult } from '../helpers/run-result.ts';

describe('Markdown summary', () => {
  test('verdict line, counts, a findings table grouped by check and severity, SLOs and reasons', () => {
    const run = sampleRunResult();

    const md = renderMarkdown(run);
    const lines = md.split('\n');

    expect(lines[0]).toBe('## Breakwater pr tier on reference-chat (flaws: channel-read-cross-tenant): ❌ BLOCKED');
    expect(md).toContain('**1/4** checks passed · 2 failed · 1 skipped · **4** finding(s) (1 critical, 1 high, 1 medium, 1 low)');
    const rows = lines.filter((l) => l.startsWith('| authz'));
    expect(rows).toHaveLength(run.findings.length);
    expect(rows.map((r) => r.split(' | ').slice(0, 2))).toEqual([
      ['| authz.matrix', 'critical'],
      ['| authz.matrix', 'high'],
      ['| authz.server-error', 'medium'],
      ['| authz.unexpected-deny', 'low'],
    ]);
    for (const f of run.findings) expect(md).toContain(`\`${f.id}\``);
    expect(md).toContain('channels.read GET /channels/{id} as eve');
    // a "|" in a subject must not split the table row
    expect(rows[2]).toContain('as bot \\| odd');
    expect(md).toMatch(/^\| api-p95-latency \| 180 ms \| 250 ms \| 30s \| ✅ pass \|$/m);
    expect(md).toMatch(/^\| api-error-rate \| 0\.04 ratio \| 0\.01 ratio \| 30s \| ❌ fail \|$/m);
    expect(md).toContain('### Reasons');
    expect(md).toContain('&lt;b&gt;markup&lt;/b&gt;');
  });

  test('a clean run says so', () => {
    const md = renderMarkdown({ ...sampleRunResult(), verdict: 'pass', findings: [], measurements: [], reasons: [] });

    expect(md.split('\n')[0]).toMatch(/: ✅ PASS$/);
    expect(md).toContain('No findings.');
    expect(md).toContain('No SLO measurements in this run.');
    expect(md).not.toContain('### Reasons');
  });

  test('cells are one line and carry no markup', () => {
    expect(mdCell('a|b\nc *d* <e>')).toBe('a\\|b c \\*d\\* &lt;e&gt;');
  });
});
