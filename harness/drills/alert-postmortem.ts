import { relative, resolve, sep } from 'node:path';
import type { AlertEpisode } from './alert-state.ts';
import type { IncidentJournal } from './incident.ts';

export interface TimelineEvent {
  at: string;
  t: number;
  /** ms from the fault's start (from the drill's start on the clean run). */
  offsetMs: number;
  event: 'drill started' | 'fault on' | 'fault off' | 'clean window start' | 'clean window end' | 'pending' | 'firing' | 'resolved' | 'cancelled' | 'drill ended';
  alert?: string;
  labels?: Record<string, string>;
  severity?: string;
}

/** timeline.json: the incident as it unfolded, for people and for tools. */
export interface IncidentTimeline {
  drill: string;
  runId: string;
  noFault: boolean;
  status: IncidentJournal['status'];
  fault: { label: string; on?: string; off?: string } | null;
  scrapes: { count: number; failed: number; everyMs: number; first?: string; last?: string };
  timeToDetectMs?: number;
  detectObjectiveMs?: number;
  alerts: Array<{ alert: string; labels: Record<string, string>; severity?: string; runbook?: string; pending: string; firing?: string; resolved?: string; cancelled?: string }>;
  events: TimelineEvent[];
}

const iso = (t: number) => new Date(t).toISOString();
const ownLabels = (labels: Record<string, string>) => Object.fromEntries(Object.entries(labels).filter(([k]) => k !== 'alertname'));

/** Orders the journal's moments into one list. */
export function renderTimeline(j: IncidentJournal): IncidentTimeline {
  const zero = j.fault?.start ?? j.window?.from ?? j.startedAt;
  const events: TimelineEvent[] = [];
  const add = (t: number | undefined, event: TimelineEvent['event'], ep?: AlertEpisode) => {
    if (t === undefined) return;
    events.push({ at: iso(t), t, offsetMs: t - zero, event, ...(ep ? { alert: ep.alert, labels: ownLabels(ep.labels), ...(ep.severity ? { severity: ep.severity } : {}) } : {}) });
  };
  add(j.startedAt, 'drill started');
  if (j.fault) {
    add(j.fault.start, 'fault on');
    add(j.fault.end, 'fault off');
  } else if (j.window) {
    add(j.window.from, 'clean window start');
    add(j.window.to, 'clean window end');
  }
  for (const ep of j.alerts) {
    add(ep.pendingAt, 'pending', ep);
    add(ep.firingAt, 'firing', ep);
    add(ep.resolvedAt, 'resolved', ep);
    add(ep.cancelledAt, 'cancelled', ep);
  }
  add(j.completedAt, 'drill ended');
  events.sort((a, b) => a.t - b.t);
  return {
    drill: j.drill,
    runId: j.runId,
    noFault: j.noFault,
    status: j.status,
    fault: j.fault ? { label: j.fault.label, ...(j.fault.start !== undefined ? { on: iso(j.fault.start) } : {}), ...(j.fault.end !== undefined ? { off: iso(j.fault.end) } : {}) } : null,
    scrapes: { count: j.scrapes.count, failed: j.scrapes.failed, everyMs: j.scrapes.everyMs, ...(j.scrapes.first ? { first: iso(j.scrapes.first) } : {}), ...(j.scrapes.last ? { last: iso(j.scrapes.last) } : {}) },
    ...(j.timeToDetectMs !== undefined ? { timeToDetectMs: j.timeToDetectMs } : {}),
    ...(j.detectObjectiveMs !== undefined ? { detectObjectiveMs: j.detectObjectiveMs } : {}),
    alerts: j.alerts.map((ep) => ({
      alert: ep.alert,
      labels: ownLabels(ep.labels),
      ...(ep.severity ? { severity: ep.severity } : {}),
      ...(ep.runbook ? { runbook: ep.runbook } : {}),
      pending: iso(ep.pendingAt),
      ...(ep.firingAt !== undefined ? { firing: iso(ep.firingAt) } : {}),
      ...(ep.resolvedAt !== undefined ? { resolved: iso(ep.resolvedAt) } : {}),
      ...(ep.cancelledAt !== undefined ? { cancelled: iso(ep.cancelledAt) } : {}),
    })),
    events,
  };
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function labelText(labels: Record<string, string>): string {
  const own = Object.entries(labels).filter(([k]) => k !== 'alertname' && k !== 'severity');
  return own.length ? `{${own.map(([k, v]) => `${k}="${v}"`).join(', ')}}` : '';
}

/** A Markdown link from the postmortem (in the run's out dir) to a runbook in the repository, or why there is none. */
function runbookLink(runbook: string | undefined, ok: boolean, paths: { outDir: string; rootDir: string }): string {
  if (!runbook) return 'none (no runbook_url)';
  const [path, anchor] = runbook.split('#', 2) as [string, string | undefined];
  if (!ok) return `\`${cell(runbook)}\` (missing)`;
  const rel = relative(paths.outDir, resolve(paths.rootDir, path)).split(sep).join('/');
  return `[${cell(runbook)}](${encodeURI(rel)}${anchor ? `#${anchor}` : ''})`;
}

/**
 * postmortem.md: a skeleton pre-filled with what the drill measured (title,
 * impact window, detection, the alerts and their runbooks, the timeline);
 * the sections people write (root cause, what went well, action items) are
 * headings with prompts.
 */
export function renderPostmortem(j: IncidentJournal, paths: { outDir: string; rootDir: string }): string {
  const runbookOk = new Map(j.rules.runbooks.map((r) => [r.alert, r.ok]));
  const zero = j.fault?.start ?? j.window?.from ?? j.startedAt;
  const fired = j.alerts.filter((a) => a.firingAt !== undefined);
  const lines: string[] = [];
  const title = j.noFault ? `${j.drill} drill, clean run without a fault` : `${j.drill} drill, ${j.fault?.label ?? 'fault'}`;
  lines.push(`# Postmortem: ${title}`, '');
  lines.push(`> Pre-filled by Breakwater from the drill journal of run \`${j.runId}\` (${iso(j.startedAt)}). The facts come from real scrapes of the target's metrics, evaluated with the rules in \`${j.rules.file}\`; the sections after the timeline are for people to write.`, '');
  lines.push(`${j.description}`, '');

  lines.push('## Summary', '');
  lines.push('| | |', '|---|---|');
  lines.push(`| Drill status | ${j.status} |`);
  if (j.noFault) lines.push(`| Fault | none: the clean run, where no alert may fire |`);
  else lines.push(`| Fault | ${cell(j.fault?.label ?? '?')} for ${seconds(j.fault?.plannedMs ?? 0)}${j.fault?.error ? ` (error: ${cell(j.fault.error)})` : ''} |`);
  if (j.fault?.start !== undefined) {
    const end = j.fault.end;
    lines.push(`| Impact window | ${iso(j.fault.start)} → ${end !== undefined ? `${iso(end)} (${seconds(end - j.fault.start)})` : 'not removed by the drill (see rollbacks)'} |`);
  } else lines.push('| Impact window | none |');
  if (!j.noFault) {
    const first = j.expected.filter((x) => x.detectMs !== undefined).sort((a, b) => a.detectMs! - b.detectMs!)[0];
    const objective = j.detectObjectiveMs !== undefined ? ` (objective ${seconds(j.detectObjectiveMs)})` : '';
    lines.push(`| Detection | ${first ? `${first.alert} fired ${seconds(first.detectMs!)} after the fault began${objective}` : `no expected alert fired during the fault${objective}`} |`);
  }
  lines.push(`| Alerts fired | ${fired.length ? [...new Set(fired.map((a) => a.alert))].join(', ') : 'none'} |`);
  lines.push(`| Scrapes | ${j.scrapes.count} every ${seconds(j.scrapes.everyMs)}${j.scrapes.failed ? `, ${j.scrapes.failed} failed` : ''} |`);
  if (j.load) lines.push(`| Load | ${cell(j.load.script)}: ${j.load.requests} requests |`);
  lines.push('');

  if (j.expected.length) {
    lines.push('## Detection', '', '| Expected alert | Fired during the fault | Time to detect |', '|---|---|---|');
    for (const x of j.expected) lines.push(`| ${x.alert} | ${x.fired ? 'yes' : '**no**'} | ${x.detectMs !== undefined ? seconds(x.detectMs) : '—'} |`);
    lines.push('');
  }
  if (j.unexpected.length) {
    lines.push('Alerts that fired outside the expectations:', '');
    for (const u of j.unexpected) lines.push(`- ${u.alert}${cell(labelText(u.labels))} at ${iso(u.firingAt)}: ${u.why}`);
    lines.push('');
  }

  lines.push('## Alerts', '', '| Alert | Labels | Severity | Pending | Firing | Resolved | Runbook |', '|---|---|---|---|---|---|---|');
  if (!j.alerts.length) lines.push('| (no alert went pending) | | | | | | |');
  const offset = (t: number | undefined) => (t === undefined ? '—' : `${t - zero >= 0 ? '+' : ''}${seconds(t - zero)}`);
  for (const a of j.alerts) {
    const end = a.resolvedAt !== undefined ? offset(a.resolvedAt) : a.cancelledAt !== undefined ? `cancelled ${offset(a.cancelledAt)}` : a.firingAt !== undefined ? 'still firing at the end' : '—';
    lines.push(`| ${a.alert} | ${cell(labelText(a.labels)) || '—'} | ${cell(a.severity ?? '—')} | ${offset(a.pendingAt)} | ${offset(a.firingAt)} | ${end} | ${runbookLink(a.runbook, runbookOk.get(a.alert) ?? false, paths)} |`);
  }
  lines.push('', `Times are relative to ${j.fault?.start !== undefined ? 'the fault going on' : j.window ? 'the start of the clean window' : 'the start of the drill'} (${iso(zero)}).`, '');
  const missing = j.rules.runbooks.filter((r) => !r.ok);
  if (missing.length) {
    lines.push('Alerts without a usable runbook:', '');
    for (const r of missing) lines.push(`- ${r.alert}: ${r.problem}`);
    lines.push('');
  }

  lines.push('## Timeline', '', '| Time (UTC) | Offset | Event |', '|---|---|---|');
  for (const e of renderTimeline(j).events) {
    const what = e.alert ? `${e.alert}${labelText(e.labels ?? {})} ${e.event}${e.severity ? ` (${e.severity})` : ''}` : e.event;
    lines.push(`| ${e.at} | ${offset(e.t)} | ${cell(what)} |`);
  }
  lines.push('');
  if (j.reasons.length) {
    lines.push('Problems the drill met:', '');
    for (const r of j.reasons) lines.push(`- ${r}`);
    lines.push('');
  }

  lines.push('## Root cause', '', '_What broke, and why? Which dependency or change caused the errors users saw, and why did the service not absorb it?_', '');
  lines.push('## What went well', '', '_Which alert paged first, was its runbook enough to act on, and what shortened the time to detect?_', '');
  lines.push('## What went wrong', '', '_What was slow or confusing: missing or noisy alerts, runbook gaps, dashboards, escalation?_', '');
  lines.push('## Action items', '', '_One line per action, with an owner and a ticket: alerts to tune, runbooks to fix, resilience work._', '', '| Action | Owner | Ticket |', '|---|---|---|', '| | | |', '');
  return lines.join('\n');
}
