import type { CheckFigure, CheckResult, Finding, MatrixCellResult, Measurement, RunResult } from '../run/result.ts';
import { escapeHtml as h } from './escape-html.ts';
import { groupFindings, severityCounts, testName } from './group-findings.ts';
import { lineChart } from './line-chart.ts';
import type { Reporter } from './reporter.ts';

/** A drill record as the reports show it. */
export interface DrillView {
  name: string;
  kind: string;
  status: string;
  completedAt: string;
  summary: string;
  figures: Record<string, number>;
  files: string[];
}

/** Reads `result.drills` defensively (see scenarioJournals). */
export function drillRecords(result: RunResult): DrillView[] {
  const raw = (result as { drills?: unknown }).drills;
  if (!Array.isArray(raw)) return [];
  return raw.filter(isObject).map((d, i) => ({
    name: typeof d.name === 'string' ? d.name : `drill ${i + 1}`,
    kind: typeof d.kind === 'string' ? d.kind : '?',
    status: typeof d.status === 'string' ? d.status : 'unknown',
    completedAt: typeof d.completedAt === 'string' ? d.completedAt : '',
    summary: typeof d.summary === 'string' ? d.summary : '',
    figures: isObject(d.figures) ? Object.fromEntries(Object.entries(d.figures).filter((e): e is [string, number] => typeof e[1] === 'number')) : {},
    files: Array.isArray(d.files) ? d.files.filter((f): f is string => typeof f === 'string') : [],
  }));
}

function drillsSection(drills: DrillView[]): string {
  if (!drills.length) return '';
  return `<section id="drills"><h2>Drills</h2><table><thead><tr><th>drill</th><th>kind</th><th>status</th><th>completed</th><th>summary</th><th>figures</th><th>files</th></tr></thead><tbody>
${drills.map((d) => `<tr><td>${h(d.name)}</td><td>${h(d.kind)}</td><td class="${d.status === 'passed' ? 'ok' : 'bad'}">${h(d.status)}</td><td>${h(d.completedAt)}</td><td>${h(d.summary)}</td><td>${h(Object.entries(d.figures).map(([k, v]) => `${k}=${v}`).join(', '))}</td><td>${d.files.map((f) => `<a href="${h(f)}">${h(f)}</a>`).join('<br>')}</td></tr>`).join('\n')}
</tbody></table></section>`;
}

/** The part of a scenario journal the report draws. Times are ms (numbers) or ISO strings, on one clock. */
export interface ScenarioJournalView {
  name: string;
  status: string;
  recoveryMs?: number;
  faults: Array<{ link: string; toxic: string; start: number; end: number }>;
  /** The nothing-lost check, when it ran. */
  integrity?: { acked: number; lost: number; duplicates: number; wrongChannel: number };
  series: Array<{ t: number; p95Ms: number; errorRate: number }>;
}

const time = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN);
const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * Reads `result.scenarios` defensively: the journal is produced by another part
 * of the harness and older or newer results may lack fields or hold more.
 */
export function scenarioJournals(result: RunResult): ScenarioJournalView[] {
  const raw = (result as { scenarios?: unknown }).scenarios;
  if (!Array.isArray(raw)) return [];
  return raw.filter(isObject).map((j, i) => ({
    name: typeof j.name === 'string' ? j.name : `scenario ${i + 1}`,
    status: typeof j.status === 'string' ? j.status : 'unknown',
    recoveryMs: typeof j.recoveryMs === 'number' ? j.recoveryMs : undefined,
    faults: (Array.isArray(j.faults) ? j.faults : [])
      .filter(isObject)
      .map((f) => ({ link: String(f.link ?? f.service ?? '?'), toxic: String(isObject(f.toxic) ? (f.toxic.type ?? f.toxic.name ?? '?') : (f.toxic ?? '?')), start: time(f.start), end: time(f.end) }))
      .filter((f) => Number.isFinite(f.start) && Number.isFinite(f.end)),
    integrity: isObject(j.integrity)
      ? {
          acked: num(isObject(j.integrity.writes) ? j.integrity.writes.acked : undefined),
          lost: num(j.integrity.lost),
          duplicates: Array.isArray(j.integrity.duplicates) ? j.integrity.duplicates.length : Number.NaN,
          wrongChannel: Array.isArray(j.integrity.wrongChannel) ? j.integrity.wrongChannel.length : Number.NaN,
        }
      : undefined,
    series: (Array.isArray(j.series) ? j.series : [])
      .filter(isObject)
      .map((p) => ({ t: time(p.t), p95Ms: num(p.p95Ms), errorRate: num(p.errorRate) }))
      .filter((p) => Number.isFinite(p.t)),
  }));
}

const CSS = `
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--warn:#9a6700;--warn-bg:#fff8c5;--muted:#57606a;--line:#d0d7de;--fault:#fb8f44}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
header.verdict{padding:20px 24px;color:#fff}header.pass{background:var(--pass)}header.blocked{background:var(--fail)}header.error{background:var(--warn)}
header h1{margin:0;font-size:28px;letter-spacing:.04em}header p{margin:4px 0 0;opacity:.95}
nav{display:flex;gap:16px;padding:8px 24px;background:#fff;border-bottom:1px solid var(--line)}nav a{color:#0969da;text-decoration:none}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:16px 0}
h2{font-size:18px;margin:4px 0 12px}h3{font-size:15px;margin:12px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:120px}.card b{display:block;font-size:22px}
.muted{color:var(--muted)}code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:8px;white-space:pre-wrap;word-break:break-all;max-height:240px;overflow:auto}
.sev{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff}
.sev-critical{background:#82071e}.sev-high{background:var(--fail)}.sev-medium{background:#bc4c00}.sev-low{background:#6e7781}
details{border:1px solid var(--line);border-radius:6px;margin:8px 0}details>summary{cursor:pointer;padding:8px 12px;font-weight:600}
details .body{padding:0 12px 8px}.finding{border-top:1px solid var(--line);padding:8px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}dt{color:var(--muted)}dd{margin:0;word-break:break-word}
table{border-collapse:collapse}th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
table.grid td{text-align:center;font:12px ui-monospace,monospace;min-width:44px}table.grid th.principal{text-align:right;white-space:nowrap}
td.pass,.legend .pass{background:var(--pass-bg);color:var(--pass)}td.fail,.legend .fail{background:var(--fail-bg);color:var(--fail);font-weight:700;outline:2px solid var(--fail);outline-offset:-2px}
td.deny.pass{background:#eef6f0}td.none{color:#aaa}
.ok{color:var(--pass);font-weight:600}.bad{color:var(--fail);font-weight:600}
.legend span{display:inline-block;padding:0 8px;margin-right:8px;border:1px solid var(--line)}
svg.chart{background:#fff;max-width:100%;height:auto}svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}svg .tick{font-size:10px;fill:var(--muted)}
svg .line{fill:none;stroke:#0969da;stroke-width:1.6}svg .dot{fill:#0969da}svg .fault{fill:var(--fault);fill-opacity:.22;stroke:var(--fault);stroke-opacity:.6}
svg .fault-label{font-size:10px;fill:#953800}svg .empty{fill:var(--muted)}svg .objective{stroke:#1f2328;stroke-width:2}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0}.charts figcaption{font-weight:600;font-size:13px}.scroll{overflow-x:auto}td.num{white-space:nowrap}
`;

const VERDICT_TEXT: Record<string, string> = { pass: 'PASS', blocked: 'BLOCKED', error: 'ERROR' };

function sev(s: string): string {
  return `<span class="sev sev-${h(s)}">${h(s)}</span>`;
}

function findingHtml(f: Finding): string {
  return `<div class="finding" id="finding-${h(f.id)}"><div><b>${h(f.title)}</b> <code>${h(f.id)}</code></div><dl>
<dt>subject</dt><dd>${h(f.subject)}</dd><dt>observed</dt><dd>${h(f.observed)}</dd><dt>expected</dt><dd>${h(f.expected)}</dd>
<dt>reproduce</dt><dd><code>${h(f.reproduce?.command)}</code>${f.reproduce?.seed !== undefined ? ` <span class="muted">seed ${h(f.reproduce.seed)}${f.reproduce.path ? `, path ${h(f.reproduce.path)}` : ''}</span>` : ''}</dd></dl>
${f.excerpt ? `<pre>${h(f.excerpt)}</pre>` : ''}</div>`;
}

function findingsSection(findings: Finding[]): string {
  if (!findings.length) return '<p class="ok">No findings.</p>';
  return groupFindings(findings)
    .map(
      (g) => `<details${g.worst === 'critical' || g.worst === 'high' ? ' open' : ''}><summary>${h(g.check)} ${sev(g.worst)} <span class="muted">${g.total} finding(s)</span></summary><div class="body">
${g.bySeverity.map(({ severity, findings: list }) => `<h3>${sev(severity)} ${list.length}</h3>${list.map(findingHtml).join('\n')}`).join('\n')}</div></details>`,
    )
    .join('\n');
}

/** principals × resource.op; a cell that ran several times (nightly rounds) fails if any run failed. */
function matrixSection(cells: MatrixCellResult[] | undefined): string {
  if (!cells?.length) return '<p class="muted">The authz matrix did not run in this run.</p>';
  const principals = [...new Set(cells.map((c) => c.principal))];
  const columns: Array<{ resource: string; op: string }> = [];
  for (const c of cells) if (!columns.some((k) => k.resource === c.resource && k.op === c.op)) columns.push({ resource: c.resource, op: c.op });
  const resources = [...new Set(columns.map((c) => c.resource))];
  const byKey = new Map<string, MatrixCellResult[]>();
  for (const c of cells) {
    const key = `${c.principal}\u0000${c.resource}\u0000${c.op}`;
    byKey.set(key, [...(byKey.get(key) ?? []), c]);
  }
  const failing = cells.filter((c) => !c.pass).length;
  const head1 = resources.map((r) => `<th colspan="${columns.filter((c) => c.resource === r).length}">${h(r)}</th>`).join('');
  const head2 = columns.map((c) => `<th title="${h(`${c.resource}.${c.op}`)}">${h(c.op)}</th>`).join('');
  const rows = principals.map((p) => {
    const tds = columns.map(({ resource, op }) => {
      const runs = byKey.get(`${p}\u0000${resource}\u0000${op}`);
      if (!runs) return '<td class="none">–</td>';
      const pass = runs.every((r) => r.pass);
      const expected = runs[0]!.expected;
      const statuses = [...new Set(runs.map((r) => r.status))].join('/');
      const tip = `${p} ${resource}.${op}: policy ${expected}, got ${statuses}${pass ? '' : ' (FAIL)'}`;
      return `<td class="${pass ? 'pass' : 'fail'} ${expected === 'deny' ? 'deny' : 'allow'}" title="${h(tip)}">${h(statuses)}${expected === 'deny' ? '' : '<sup>✓</sup>'}</td>`;
    });
    return `<tr><th class="principal">${h(p)}</th>${tds.join('')}</tr>`;
  });
  return `<p>${principals.length} principals × ${columns.length} resource operations, ${cells.length} cell run(s), <span class="${failing ? 'bad' : 'ok'}">${failing} failing</span>.</p>
<p class="legend"><span class="pass">status</span> met the policy · <span class="fail">status</span> broke it · <sup>✓</sup> the policy allows the cell (otherwise it denies)</p>
<div class="scroll"><table class="grid"><thead><tr><th rowspan="2">principal</th>${head1}</tr><tr>${head2}</tr></thead><tbody>
${rows.join('\n')}</tbody></table></div>`;
}

function scenariosSection(journals: ScenarioJournalView[]): string {
  if (!journals.length) return '<p class="muted">No chaos scenarios in this run.</p>';
  return journals
    .map((j) => {
      const windows = j.faults.map((f) => ({ start: f.start, end: f.end, label: `${f.link}: ${f.toxic}` }));
      const ok = j.status === 'ok';
      return `<h3>${h(j.name)} <span class="${ok ? 'ok' : 'bad'}">${h(j.status)}</span>${j.recoveryMs !== undefined ? ` <span class="muted">recovered in ${h((j.recoveryMs / 1000).toFixed(1))} s</span>` : ''}</h3>
<p class="muted">${j.faults.length ? `faults (shaded): ${j.faults.map((f) => h(`${f.link} ${f.toxic}`)).join(', ')}` : 'no faults recorded'}</p>
${j.integrity ? `<p>nothing-lost: ${h(j.integrity.acked)} acknowledged writes, <span class="${j.integrity.lost || j.integrity.duplicates || j.integrity.wrongChannel ? 'bad' : 'ok'}">${h(j.integrity.lost)} lost, ${h(j.integrity.duplicates)} duplicated, ${h(j.integrity.wrongChannel)} in the wrong channel</span></p>` : ''}
<div class="charts"><figure><figcaption>p95 latency</figcaption>${lineChart({ title: `${j.name}: p95 latency`, points: j.series.map((p) => ({ t: p.t, v: p.p95Ms })), windows, format: (v) => `${Math.round(v)} ms`, minYMax: 10 })}</figure>
<figure><figcaption>error rate</figcaption>${lineChart({ title: `${j.name}: error rate`, points: j.series.map((p) => ({ t: p.t, v: p.errorRate * 100 })), windows, format: (v) => `${Math.round(v * 10) / 10} %`, minYMax: 5 })}</figure></div>`;
    })
    .join('\n');
}

/** The value against the objective on one scale: a bar for the value, a mark for the objective. */
function sloBar(m: Measurement): string {
  const max = Math.max(m.value, m.objective, Number.EPSILON) * 1.15;
  const w = 160;
  const vx = Math.round((Math.max(0, m.value) / max) * w);
  const ox = Math.round((Math.max(0, m.objective) / max) * w);
  return `<svg class="chart" viewBox="0 0 ${w} 14" width="${w}" height="14" role="img" aria-label="${h(`${m.value} against ${m.objective} ${m.unit}`)}"><rect x="0" y="3" width="${vx}" height="8" fill="${m.pass ? '#1a7f37' : '#cf222e'}"/><line class="objective" x1="${ox}" x2="${ox}" y1="0" y2="14"/></svg>`;
}

function sloSection(measurements: Measurement[]): string {
  if (!measurements.length) return '<p class="muted">No SLO measurements in this run.</p>';
  return `<table><thead><tr><th>SLO</th><th>value</th><th>objective</th><th>window</th><th></th><th>result</th></tr></thead><tbody>
${measurements.map((m) => `<tr><td>${h(m.slo)}</td><td>${h(`${m.value} ${m.unit}`)}</td><td>${h(`${m.objective} ${m.unit}`)}</td><td>${h(m.window)}</td><td>${sloBar(m)}</td><td class="${m.pass ? 'ok' : 'bad'}">${m.pass ? 'pass' : 'fail'}</td></tr>`).join('\n')}
</tbody></table>`;
}

/** A check's measured figures in one cell: "frames accepted 48 of 100 (bound ≤ 52)". */
export function figureText(f: CheckFigure): string {
  const bound = f.bound === undefined ? '' : ` (bound ${f.atLeast ? '≥' : '≤'} ${f.bound}${f.unit ? ` ${f.unit}` : ''})`;
  return `${f.what} ${f.value}${f.of !== undefined ? ` of ${f.of}` : ''}${f.unit ? ` ${f.unit}` : ''}${bound}`;
}

function checksSection(result: RunResult): string {
  const checks = result.checks ?? [];
  if (!checks.length) return '<p class="muted">No checks ran.</p>';
  const detail = (c: CheckResult) =>
    [c.error ?? c.note ?? '', ...(c.figures ?? []).map(figureText), ...(c.inconclusive ? [`inconclusive: ${c.inconclusive.cases} (${c.inconclusive.reasons.join('; ')})`] : [])].filter(Boolean).map(h).join('<br>');
  return `<table><thead><tr><th>suite</th><th>check</th><th>state</th><th>time</th><th>findings</th><th>measured, error or note</th></tr></thead><tbody>
${checks.map((c) => `<tr><td>${h(c.suite)}</td><td>${h(testName(c))}</td><td class="${c.state === 'passed' ? 'ok' : c.state === 'failed' ? 'bad' : 'muted'}">${h(c.state)}</td><td class="num">${h((c.durationMs / 1000).toFixed(2))} s</td><td>${h(c.findings)}</td><td>${detail(c)}</td></tr>`).join('\n')}
</tbody></table>`;
}

/**
 * One self-contained HTML page, readable offline: inline CSS and inline SVG,
 * no scripts, and a Content-Security-Policy that forbids loading anything.
 * Every text from the run is escaped.
 */
export function renderHtml(result: RunResult): string {
  const checks = result.checks ?? [];
  const findings = result.findings ?? [];
  const measurements = result.measurements ?? [];
  const verdict = VERDICT_TEXT[result.verdict] ?? String(result.verdict).toUpperCase();
  const n = (state: string) => checks.filter((c) => c.state === state).length;
  const journals = scenarioJournals(result);
  const flaws = result.target?.flaws?.length ? ` · flaws: ${h(result.target.flaws.join(', '))}` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Breakwater ${h(result.tier)} · ${h(result.target?.name)} · ${h(verdict)}</title>
<style>${CSS}</style></head>
<body>
<header class="verdict ${h(result.verdict)}"><h1>${h(verdict)}</h1><p>Breakwater ${h(result.tier)} tier on ${h(result.target?.name)} (${h(result.target?.provider)})${flaws} · ${h(result.startedAt)} · ${h(((result.durationMs ?? 0) / 1000).toFixed(1))} s</p></header>
<nav><a href="#findings">Findings</a><a href="#matrix">Authz matrix</a><a href="#scenarios">Chaos scenarios</a><a href="#slos">SLOs</a><a href="#checks">Checks</a></nav>
<main>
<section id="summary"><div class="cards">
<div class="card"><b>${n('passed')}/${checks.length}</b>checks passed</div>
<div class="card"><b class="${n('failed') ? 'bad' : ''}">${n('failed')}</b>failed</div>
<div class="card"><b>${n('skipped')}</b>skipped</div>
<div class="card"><b class="${findings.length ? 'bad' : 'ok'}">${findings.length}</b>findings${findings.length ? ` <span class="muted">(${h(severityCounts(findings))})</span>` : ''}</div>
<div class="card"><b>${measurements.filter((m) => m.pass).length}/${measurements.length}</b>SLOs met</div>
</div>
${result.reasons?.length ? `<h3>Reasons</h3><ul>${result.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>` : ''}
</section>
<section id="findings"><h2>Findings by check and severity</h2>
${findingsSection(findings)}
</section>
<section id="matrix"><h2>Authz matrix</h2>
${matrixSection(result.matrix)}
</section>
${drillsSection(drillRecords(result))}
<section id="scenarios"><h2>Chaos scenarios</h2>
${scenariosSection(journals)}
</section>
<section id="slos"><h2>SLO measurements against objectives</h2>
${sloSection(measurements)}
</section>
<section id="checks"><h2>Checks</h2>
${checksSection(result)}
</section>
<p class="muted">run ${h(result.runId)} · seed ${h(result.seeds?.fastCheck)} · ${h(Object.entries(result.tools ?? {}).map(([k, v]) => `${k} ${v}`).join(', '))}</p>
</main></body></html>
`;
}

/** Writes `report.html`. */
export function htmlReporter(): Reporter {
  return {
    name: 'html',
    async onRunEnd(result, ctx) {
      return ctx.emit('report.html', renderHtml(result));
    },
  };
}
