import type { Severity } from '../config/target.ts';
import { SEVERITY_RANK, type CheckResult, type Finding, type RunResult } from '../run/result.ts';

export const SEVERITIES_DESC: Severity[] = ['critical', 'high', 'medium', 'low'];

export interface CheckFindings {
  check: string;
  /** The highest severity among this check's findings. */
  worst: Severity;
  bySeverity: Array<{ severity: Severity; findings: Finding[] }>;
  total: number;
}

/** Findings grouped by check (worst check first, then by name), and inside a check by severity (highest first). */
export function groupFindings(findings: Finding[]): CheckFindings[] {
  const byCheck = new Map<string, Finding[]>();
  for (const f of findings) byCheck.set(f.check, [...(byCheck.get(f.check) ?? []), f]);
  return [...byCheck.entries()]
    .map(([check, list]) => {
      const bySeverity = SEVERITIES_DESC.map((severity) => ({ severity, findings: list.filter((f) => f.severity === severity) })).filter((g) => g.findings.length);
      return { check, worst: bySeverity[0]!.severity, bySeverity, total: list.length };
    })
    .sort((a, b) => SEVERITY_RANK[b.worst] - SEVERITY_RANK[a.worst] || a.check.localeCompare(b.check));
}

/** Counts per severity, highest first, only those present: "1 critical, 2 high". */
export function severityCounts(findings: Finding[]): string {
  return SEVERITIES_DESC.map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
}

/**
 * The findings a check reported. Results that recorded `findingIds` are exact;
 * for older ones, a finding belongs to a check whose suite file contains the finding's suite.
 */
export function findingsOfCheck(check: CheckResult, result: Pick<RunResult, 'findings'>): Finding[] {
  if (check.findingIds) {
    const ids = new Set(check.findingIds);
    return result.findings.filter((f) => ids.has(f.id));
  }
  return check.findings > 0 ? result.findings.filter((f) => check.suite.includes(f.suite)) : [];
}

/** The test name of a check, without the `<suite file> > ` prefix. */
export function testName(check: CheckResult): string {
  const prefix = `${check.suite} > `;
  return check.name.startsWith(prefix) ? check.name.slice(prefix.length) : check.name;
}
