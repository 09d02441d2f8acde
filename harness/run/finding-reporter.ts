import type { Severity, TargetProfile } from '../config/target.ts';
import type { Redactor } from '../safety/redact.ts';
import { findingId, type Finding } from './result.ts';

/**
 * Findings of one scenario or drill: ids stable per (check, `<scope>/<subject>`),
 * severity from the profile's overrides or the caller's defaults, observed
 * text redacted, one finding per check and subject.
 */
export function findingReporter(opts: { profile: TargetProfile; suite: string; scope: string; command: string; redactor: Redactor; defaults: Record<string, Severity> }) {
  const findings: Finding[] = [];
  const report = (check: string, subject: string, title: string, observed: string, expected: string): void => {
    const full = `${opts.scope}/${subject}`;
    if (findings.some((f) => f.check === check && f.subject === full)) return;
    findings.push({
      id: findingId(check, full),
      check,
      suite: opts.suite,
      severity: opts.profile.severity?.[check] ?? opts.defaults[check] ?? 'high',
      title,
      subject: full,
      observed: opts.redactor.redact(observed),
      expected,
      reproduce: { command: opts.command },
    });
  };
  return { findings, report };
}
