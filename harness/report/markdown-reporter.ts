import { drillRecords, scenarioJournals } from './html-reporter.ts';
import type { RunResult } from '../run/result.ts';
import { groupFindings, severityCounts, testName } from './group-findings.ts';
import type { Reporter } from './reporter.ts';

const VERDICT_LINE: Record<RunResult['verdict'], string> = { pass: '✅ PASS', blocked: '❌ BLOCKED', error: '⚠️ ERROR' };

/** Rows beyond this go to the SARIF and run.json only: a step summary is capped at 1 MiB. */
const MAX_ROWS = 200;

/** Text for a GitHub-flavoured Markdown table cell: one line, no markup, no HTML. */
export function mdCell(value: unknown, max = 160): string {
  let s = String(value ?? '').replace(/\s+/g, ' ').trim();
  if (s.length > max) s = `${s.slice(0, max - 1)}…`;
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#~])/g, '\\$1');
}

/** A Markdown summary for `$GITHUB_STEP_SUMMARY`: verdict, counts, findings by check and severity, SLOs, reasons. */
export function renderMarkdown(result: RunResult): string {
  const checks = result.checks ?? [];
  const findings = result.findings ?? [];
  const measurements = result.measurements ?? [];
  const n = (state: string) => checks.filter((c) => c.state === state).length;
  const flaws = result.target?.flaws?.length ? ` (flaws: ${mdCell(result.target.flaws.join(', '))})` : '';
  const out: string[] = [
    `## Breakwater ${mdCell(result.tier)} tier on ${mdCell(result.target?.name)}${flaws}: ${VERDICT_LINE[result.verdict] ?? mdCell(result.verdict)}`,
    '',
    `**${n('passed')}/${checks.length}** checks passed · ${n('failed')} failed · ${n('skipped')} skipped · ` +
      `**${findings.length}** finding(s)${findings.length ? ` (${severityCounts(findings)})` : ''} · ` +
      `${((result.durationMs ?? 0) / 1000).toFixed(1)} s · run \`${result.runId}\` · seed ${result.seeds?.fastCheck ?? '–'}`,
    '',
  ];
  if (result.unconfirmed?.length) {
    out.push('### Unconfirmed', '', 'Findings whose case did not happen again when re-run once on the same stack: recorded, blocking nothing.', '');
    out.push('| check | severity | subject | first observed | on the re-run |', '|---|---|---|---|---|');
    for (const f of result.unconfirmed) out.push(`| ${mdCell(f.check)} | ${f.severity} | ${mdCell(f.subject)} | ${mdCell(f.observed)} | ${mdCell(f.unconfirmed)} |`);
    out.push('');
  }
  const unjudged = checks.filter((c) => c.inconclusive?.cases);
  if (unjudged.length) {
    out.push('### Inconclusive', '', 'Cases the target did not decide (rate-limited, unavailable, a 5xx, no answer), even after retries: neither passes nor findings.', '');
    out.push('| check | inconclusive | judged | why |', '|---|---|---|---|');
    for (const c of unjudged) out.push(`| ${mdCell(c.name)} | ${c.inconclusive!.cases} | ${c.inconclusive!.conclusive} | ${mdCell(c.inconclusive!.reasons.join('; '))} |`);
    out.push('');
  }

  out.push('### Findings', '');
  if (!findings.length) out.push('No findings.', '');
  else {
    out.push('| check | severity | id | subject | observed | expected |', '|---|---|---|---|---|---|');
    let rows = 0;
    for (const group of groupFindings(findings)) {
      for (const { severity, findings: list } of group.bySeverity) {
        for (const f of list) {
          if (rows++ >= MAX_ROWS) continue;
          out.push(`| ${mdCell(group.check)} | ${severity} | \`${String(f.id).replace(/[`|\s]/g, '')}\` | ${mdCell(f.subject)} | ${mdCell(f.observed, 80)} | ${mdCell(f.expected, 80)} |`);
        }
      }
    }
    out.push('');
    if (rows > MAX_ROWS) out.push(`… and ${rows - MAX_ROWS} more findings in \`results.sarif\` and \`run.json\`.`, '');
  }

  const failed = checks.filter((c) => c.state === 'failed');
  if (failed.length) {
    out.push('### Failed checks', '');
    for (const c of failed) out.push(`- ${mdCell(c.suite)} › ${mdCell(testName(c))}: ${mdCell(c.error ?? 'failed', 300)}`);
    out.push('');
  }

  const journals = scenarioJournals(result);
  if (journals.length) {
    out.push('### Chaos scenarios', '', '| scenario | status | faults | recovery | nothing-lost |', '|---|---|---|---|---|');
    for (const j of journals) {
      const lost = j.integrity ? `${j.integrity.acked} acked, ${j.integrity.lost} lost, ${j.integrity.duplicates} dup, ${j.integrity.wrongChannel} misdelivered` : '–';
      out.push(`| ${mdCell(j.name)} | ${j.status === 'ok' ? '✅ ok' : `❌ ${mdCell(j.status)}`} | ${mdCell(j.faults.map((f) => `${f.link} ${f.toxic}`).join(', '), 120)} | ${j.recoveryMs !== undefined ? `${(j.recoveryMs / 1000).toFixed(1)} s` : 'not recovered'} | ${mdCell(lost)} |`);
    }
    out.push('');
  }

  const drills = drillRecords(result);
  if (drills.length) {
    out.push('### Drills', '', '| drill | status | completed | summary |', '|---|---|---|---|');
    for (const d of drills) out.push(`| ${mdCell(d.name)} | ${d.status === 'passed' ? '✅ passed' : `❌ ${mdCell(d.status)}`} | ${mdCell(d.completedAt)} | ${mdCell(d.summary, 200)} |`);
    out.push('');
  }

  out.push('### SLO measurements', '');
  if (!measurements.length) out.push('No SLO measurements in this run.', '');
  else {
    out.push('| SLO | value | objective | window | result |', '|---|---|---|---|---|');
    for (const m of measurements) out.push(`| ${mdCell(m.slo)} | ${mdCell(`${m.value} ${m.unit}`)} | ${mdCell(`${m.objective} ${m.unit}`)} | ${mdCell(m.window)} | ${m.pass ? '✅ pass' : '❌ fail'} |`);
    out.push('');
  }

  if (result.reasons?.length) {
    out.push('### Reasons', '');
    for (const r of result.reasons) out.push(`- ${mdCell(r, 400)}`);
    out.push('');
  }
  return out.join('\n');
}

/** Writes `summary.md`. */
export function markdownReporter(): Reporter {
  return {
    name: 'markdown',
    async onRunEnd(result, ctx) {
      return ctx.emit('summary.md', renderMarkdown(result));
    },
  };
}
