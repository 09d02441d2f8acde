import { describe, expect, test } from 'vitest';
import { escapeHtml } from '../../harness/report/escape-html.ts';
import { renderHtml, scenarioJournals } from '../../harness/report/html-reporter.ts';
import { sampleRunResult } from '../helpers/run-result.ts';

/** Anything that would make a browser fetch: scripts, stylesheets, fonts, images, frames from anywhere. */
function resourceLoads(html: string): string[] {
  const patterns = [
    /<script\b[^>]*\bsrc\s*=/gi,
    /<link\b/gi,
    /<(?:img|iframe|frame|embed|object|audio|video|source|track|image|use)\b[^>]*\b(?:src|href|data|xlink:href)\s*=\s*["']?(?!#|data:)/gi,
    /\burl\(\s*["']?(?!#|data:)/gi,
    /@import\b/gi,
    /\b(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?:https?:)?\/\//gi,
  ];
  return patterns.flatMap((p) => html.match(p) ?? []);
}

describe('HTML report', () => {
  test('is one self-contained page: no scripts, no stylesheets or fonts from anywhere, nothing fetched', () => {
    const html = renderHtml(sampleRunResult());

    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script/i);
    expect(resourceLoads(html)).toEqual([]);
    expect(html).toContain(`http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(html).toMatch(/<style>[^<]+<\/style>/);
  });

  test.for([
    '<script src="https://cdn.example/x.js"></script>',
    '<link rel="stylesheet" href="a.css">',
    '<img src="http://x/y.png">',
    '<style>@import "f.css";</style>',
    '<style>a{background:url(http://x)}</style>',
    '<svg><use href="sprite.svg#a"/></svg>',
    '<iframe src="//cdn.example/x"></iframe>',
  ])('the resource-load check finds %s', (snippet) => {
    expect(resourceLoads(snippet)).not.toEqual([]);
  });

  test('in-page links and URLs in text are not resource loads', () => {
    expect(resourceLoads('<a href="#findings">x</a><p>target http://127.0.0.1:3000</p><rect fill="url(#g)"/>')).toEqual([]);
  });

  test('shows the verdict, and findings grouped by check and severity in collapsible sections', () => {
    const run = sampleRunResult();

    const html = renderHtml(run);

    expect(html).toContain('<header class="verdict blocked"><h1>BLOCKED</h1>');
    const details = html.match(/<details[^>]*><summary>[^<]+/g)!.map((s) => s.replace(/<[^>]+>/g, '').trim());
    expect(details).toEqual(['authz.matrix', 'authz.server-error', 'authz.unexpected-deny']);
    expect(html).toMatch(/<details open><summary>authz\.matrix <span class="sev sev-critical">critical<\/span>/);
    for (const f of run.findings) expect(html).toContain(`id="finding-${f.id}"`);
  });

  test('escapes every text from the run', () => {
    const html = renderHtml(sampleRunResult());

    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('postgres latency &lt;spike&gt;');
    expect(html).not.toContain('<b>markup</b>');
  });

  test('draws the authz matrix as a principals × resource.op grid, failing cells marked', () => {
    const run = sampleRunResult();

    const html = renderHtml(run);

    const grid = html.match(/<table class="grid">[\s\S]*?<\/table>/)![0];
    const rows = grid.match(/<tr><th class="principal">[\s\S]*?<\/tr>/g)!;
    expect(rows.map((r) => r.match(/<th class="principal">([^<]+)/)![1])).toEqual(['alice', 'bob', 'eve']);
    expect(grid).toContain('<th colspan="2">channels</th><th colspan="1">messages</th>');
    expect(rows.every((r) => (r.match(/<td /g) ?? []).length === 3)).toBe(true);
    expect(rows[2]).toContain('<td class="fail deny" title="eve channels.read: policy deny, got 200 (FAIL)">200</td>');
    expect(grid.match(/class="fail/g)).toHaveLength(1);
    expect(grid.match(/class="pass/g)).toHaveLength(8);
  });

  test('draws latency and error rate of each scenario as SVG line charts with the fault windows shaded', () => {
    const html = renderHtml(sampleRunResult());

    const charts = html.match(/<svg class="chart" viewBox="0 0 640 180"[\s\S]*?<\/svg>/g)!;
    expect(charts).toHaveLength(2);
    for (const svg of charts) {
      expect(svg).toMatch(/<path class="line" d="M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){30}"\/>/);
      const faults = [...svg.matchAll(/<rect class="fault" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
      expect(faults).toHaveLength(2);
      // the latency fault spans 10 s of the 30 s axis, the redis one (ISO times) 6 s from 12 s on
      expect(faults[0]![1] / faults[1]![1]).toBeCloseTo(10 / 6, 1);
      expect(faults[1]![0]).toBeGreaterThan(faults[0]![0]);
    }
    expect(charts[0]).toContain('<title>app-&gt;postgres: latency</title>');
    expect(html).toContain('recovered in 4.2 s');
  });

  test('without scenario journals the section says so; malformed journal parts are skipped', () => {
    const run = sampleRunResult();
    const { scenarios: _dropped, ...noScenarios } = run;
    expect(renderHtml(noScenarios)).toContain('No chaos scenarios in this run.');

    const odd = { ...run, scenarios: [null, 'x', { faults: [{ link: 'a', toxic: 'latency', start: 'not a date', end: 5 }], series: [{ t: 1, p95Ms: 3 }, { nope: true }] }] };
    const journals = scenarioJournals(odd);
    expect(journals).toEqual([{ name: 'scenario 1', status: 'unknown', recoveryMs: undefined, faults: [], series: [{ t: 1, p95Ms: 3, errorRate: Number.NaN }] }]);
    expect(() => renderHtml(odd)).not.toThrow();
  });

  test('shows SLO measurements against their objectives', () => {
    const html = renderHtml(sampleRunResult());

    const slos = html.match(/<section id="slos">[\s\S]*?<\/section>/)![0];
    expect(slos).toContain('<td>api-p95-latency</td><td>180 ms</td><td>250 ms</td>');
    expect(slos).toMatch(/api-error-rate[\s\S]*<line class="objective"[\s\S]*<td class="bad">fail<\/td>/);
  });

  test('escapeHtml escapes the five characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(escapeHtml(undefined)).toBe('');
    expect(escapeHtml(42)).toBe('42');
  });
});
