import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { BreakwaterError, oneLine } from '../errors.ts';
import { which } from '../stack/tools.ts';
import { parseDuration, parsePromQL, PromQLError, PROMQL_SUBSET, rangesOf, type Expr } from './promql.ts';

/** One alerting rule of a Prometheus rules file, parsed and checked against the evaluator's subset. */
export interface AlertRule {
  group: string;
  alert: string;
  expr: string;
  ast: Expr;
  /** `for:` in ms (0 when absent): how long the condition must hold before the alert fires. */
  forMs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** `labels.severity` (`page`, `ticket`...). */
  severity?: string;
  /** `annotations.runbook_url`: a path relative to the root. */
  runbook?: string;
  /** The ranges of the expression's windows (ms), e.g. [30000, 5000] for a multi-window rule. */
  windowsMs: number[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const RULE_KEYS = new Set(['alert', 'expr', 'for', 'labels', 'annotations']);
const MAX_RULES = 1000;

function invalid(source: string, problem: string): never {
  throw new BreakwaterError('BW_CONFIG_INVALID', `${source}: ${problem}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(source: string, where: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) invalid(source, `${where} must be a map of names to strings`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') out[k] = x;
    else if (typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
    else invalid(source, `${where}.${k} must be a string`);
  }
  return out;
}

/**
 * Reads a Prometheus rules file (`groups: [{ name, rules: [{ alert, expr,
 * for, labels, annotations }] }]`) and parses every expression. Anything the
 * drill cannot evaluate faithfully (recording rules, group intervals,
 * `keep_firing_for`, PromQL outside the subset) is a one-line
 * BreakwaterError naming the rule and the construct. `source` names the file
 * in messages.
 */
export function parseAlertRules(text: string, source: string): AlertRule[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    invalid(source, `not valid YAML: ${oneLine(err)}`);
  }
  if (!isObject(doc) || !Array.isArray(doc.groups)) invalid(source, 'must be a Prometheus rules file with a top-level "groups:" list');
  const extra = Object.keys(doc).filter((k) => k !== 'groups');
  if (extra.length) invalid(source, `unknown top-level key "${extra[0]}"; a rules file holds only "groups:"`);
  if (!doc.groups.length) invalid(source, 'has no rule groups');
  const rules: AlertRule[] = [];
  const groupNames = new Set<string>();
  for (const [gi, g] of doc.groups.entries()) {
    if (!isObject(g) || typeof g.name !== 'string' || !g.name) invalid(source, `group ${gi + 1} has no name`);
    const group = g.name;
    if (groupNames.has(group)) invalid(source, `group "${group}" is defined twice`);
    groupNames.add(group);
    for (const k of Object.keys(g)) {
      if (k === 'name' || k === 'rules') continue;
      if (k === 'interval') invalid(source, `group "${group}": "interval" is outside what the drill evaluates (it evaluates every rule at every scrape); remove it`);
      invalid(source, `group "${group}": "${k}" is outside what the drill evaluates; remove it`);
    }
    if (!Array.isArray(g.rules) || !g.rules.length) invalid(source, `group "${group}" has no rules`);
    for (const [ri, r] of g.rules.entries()) {
      if (rules.length >= MAX_RULES) invalid(source, `more than ${MAX_RULES} rules`);
      if (!isObject(r)) invalid(source, `group "${group}", rule ${ri + 1} is not a map`);
      if ('record' in r) invalid(source, `group "${group}", rule ${ri + 1}: recording rules (record: ${String(r.record)}) are outside what the drill evaluates; inline the expression in the alert`);
      const alert = r.alert;
      if (typeof alert !== 'string' || !NAME.test(alert)) invalid(source, `group "${group}", rule ${ri + 1}: "alert:" must be a name like HighErrorRate`);
      const where = `rule "${alert}" (group "${group}")`;
      for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) invalid(source, `${where}: "${k}" is outside what the drill evaluates; remove it`);
      const expr = typeof r.expr === 'number' ? String(r.expr) : r.expr;
      if (typeof expr !== 'string' || !expr.trim()) invalid(source, `${where} has no expr`);
      let forMs = 0;
      if (r.for !== undefined && r.for !== null) {
        const d = typeof r.for === 'string' ? parseDuration(r.for.trim()) : r.for === 0 ? 0 : undefined;
        if (d === undefined) invalid(source, `${where}: for "${String(r.for)}" is not a duration like 30s or 1m`);
        forMs = d;
      }
      let ast: Expr;
      try {
        ast = parsePromQL(expr);
      } catch (err) {
        if (!(err instanceof PromQLError)) throw err;
        const hint = err.unsupported ? `; the drill evaluates ${PROMQL_SUBSET}` : '';
        invalid(source, `${where}: ${err.message}${hint}`);
      }
      const labels = stringMap(source, `${where} labels`, r.labels);
      const annotations = stringMap(source, `${where} annotations`, r.annotations);
      rules.push({
        group,
        alert,
        expr: expr.trim(),
        ast,
        forMs,
        labels,
        annotations,
        ...(labels.severity ? { severity: labels.severity } : {}),
        ...(annotations.runbook_url ? { runbook: annotations.runbook_url } : {}),
        windowsMs: rangesOf(ast),
      });
    }
  }
  return rules;
}

/** Reads and parses a rules file; `file` is absolute, `source` is how messages name it. */
export function loadAlertRules(file: string, source: string): AlertRule[] {
  if (!existsSync(file) || !statSync(file).isFile()) throw new BreakwaterError('BW_CONFIG_INVALID', `alert rules file ${source} does not exist; check the drill's "rules" path (relative to the root)`);
  return parseAlertRules(readFileSync(file, 'utf8'), source);
}

export interface RunbookCheck {
  alert: string;
  runbook?: string;
  ok: boolean;
  /** Why the runbook does not count, one line. */
  problem?: string;
}

/**
 * Whether every alert links a runbook that exists: `runbook_url` is a path
 * relative to the root (an `#anchor` is allowed) naming a non-empty file
 * inside it. A web URL cannot be checked offline, so it does not count.
 */
export function checkRunbooks(rules: AlertRule[], rootDir: string): RunbookCheck[] {
  return rules.map((r): RunbookCheck => {
    const base = { alert: r.alert, ...(r.runbook ? { runbook: r.runbook } : {}) };
    if (!r.runbook) return { ...base, ok: false, problem: 'has no runbook_url annotation' };
    if (/^[a-z][a-z0-9+.-]*:/i.test(r.runbook)) return { ...base, ok: false, problem: `runbook_url ${r.runbook} is a URL, which the drill cannot check offline; link a runbook file in the repository (ops/runbooks/<name>.md)` };
    const path = r.runbook.replace(/#.*$/, '');
    const file = resolve(rootDir, path);
    const rel = relative(rootDir, file);
    if (isAbsolute(path) || !rel || rel.startsWith(`..${sep}`) || rel === '..') return { ...base, ok: false, problem: `runbook_url ${r.runbook} is outside the repository; use a path relative to the root` };
    if (!existsSync(file) || !statSync(file).isFile()) return { ...base, ok: false, problem: `runbook ${path} does not exist` };
    if (!readFileSync(file, 'utf8').trim()) return { ...base, ok: false, problem: `runbook ${path} is empty` };
    return { ...base, ok: true };
  });
}

const run = promisify(execFile);
const PROMTOOL_TIMEOUT_MS = 15_000;

/**
 * Validates the file with the real `promtool check rules` when promtool is on
 * the PATH, and says `skipped` when it is not (nothing is installed). A file
 * promtool rejects is a one-line BreakwaterError with promtool's reason.
 */
export async function checkWithPromtool(file: string, source: string): Promise<'passed' | 'skipped'> {
  const promtool = which('promtool');
  if (!promtool) return 'skipped';
  try {
    await run(promtool, ['check', 'rules', file], { timeout: PROMTOOL_TIMEOUT_MS, maxBuffer: 1024 * 1024 });
    return 'passed';
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; killed?: boolean; code?: unknown };
    if (e.killed) throw new BreakwaterError('BW_CONFIG_INVALID', `promtool check rules ${source} did not finish within ${PROMTOOL_TIMEOUT_MS / 1000} s`);
    const lines = `${e.stdout ?? ''}\n${e.stderr ?? ''}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^Checking /.test(l));
    const why = lines.join('; ').slice(0, 300) || oneLine(err);
    throw new BreakwaterError('BW_CONFIG_INVALID', `promtool check rules ${source} rejected the file: ${why}`);
  }
}
