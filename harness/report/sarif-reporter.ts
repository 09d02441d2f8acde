import { readFileSync } from 'node:fs';
import type { Log, ReportingDescriptor, Result } from 'sarif';
import type { Severity } from '../config/target.ts';
import { SEVERITY_RANK, type Finding, type RunResult } from '../run/result.ts';
import type { Reporter } from './reporter.ts';

export const SARIF_SCHEMA_URI = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

export const SARIF_LEVEL: Record<Severity, Result.level> = { critical: 'error', high: 'error', medium: 'warning', low: 'note' };

/** GitHub code scanning ranks security alerts by this score (critical > 9, high 7–8.9, medium 4–6.9, low < 4). */
export const SECURITY_SEVERITY: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0' };

/** What each check proves, for `tool.driver.rules`. Unknown checks fall back to their family. */
const CHECK_DESCRIPTIONS: Record<string, string> = {
  'authn.anonymous-access': 'A resource route serves an anonymous caller',
  'authz.matrix': 'A principal can perform an operation that the policy denies',
  'authz.server-error': 'An authorization decision ends in a server error',
  'authz.unexpected-deny': 'A principal is refused an operation that the policy allows',
  'authz.token-tampering': 'A tampered, expired or foreign token is accepted',
  'authz.bot-scope': 'A bot acts outside the scopes of its token',
  'isolation.realtime': 'A realtime event reaches a socket outside its room',
  'isolation.realtime-join': 'A principal can join a realtime room it is not a member of',
  'isolation.realtime-revocation': 'A revoked member keeps receiving realtime events',
  'isolation.cache': "A cached response leaks another tenant's data",
  'isolation.uploads': 'An upload is readable without channel membership',
  'ssrf.not-blocked': 'An egress endpoint fetches a private, loopback or metadata address',
  'ssrf.canary-hit': 'An egress endpoint reached the internal canary',
  'telemetry.secret-leak': 'A secret appears in logs or telemetry',
};

const FAMILY_DESCRIPTIONS: Record<string, string> = {
  authn: 'Authentication boundary broken',
  authz: 'Authorization boundary broken',
  isolation: 'Tenant or room isolation broken',
  ssrf: 'Server-side request forgery guard broken',
  telemetry: 'Secret exposed in telemetry',
  abuse: 'Abuse limit not enforced',
};

function describeCheck(check: string): string {
  return CHECK_DESCRIPTIONS[check] ?? FAMILY_DESCRIPTIONS[check.split('.')[0]!] ?? `Breakwater check ${check} found a broken boundary`;
}

function toolVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The suite file of each finding, from the checks that recorded it. */
function suiteFiles(result: RunResult): Map<string, string> {
  const files = new Map<string, string>();
  for (const c of result.checks ?? []) for (const id of c.findingIds ?? []) files.set(id, c.suite);
  return files;
}

/**
 * SARIF 2.1.0 for GitHub code scanning and other SARIF viewers: one result per
 * finding, one rule per check. The finding id is the partial fingerprint, so
 * an alert keeps its identity across runs.
 */
export function renderSarif(result: RunResult): Log {
  const findings = result.findings ?? [];
  const checks = [...new Set(findings.map((f) => f.check))].sort();
  const worst = (check: string): Severity =>
    findings.filter((f) => f.check === check).reduce<Severity>((w, f) => (SEVERITY_RANK[f.severity] > SEVERITY_RANK[w] ? f.severity : w), 'low');
  const rules: ReportingDescriptor[] = checks.map((id) => ({
    id,
    name: id.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase()),
    shortDescription: { text: describeCheck(id) },
    defaultConfiguration: { level: SARIF_LEVEL[worst(id)] },
    properties: { 'security-severity': SECURITY_SEVERITY[worst(id)], tags: ['security', id.split('.')[0]!] },
  }));
  const files = suiteFiles(result);
  const results: Result[] = findings.map((f: Finding) => {
    const file = files.get(f.id);
    return {
      ruleId: f.check,
      ruleIndex: checks.indexOf(f.check),
      level: SARIF_LEVEL[f.severity],
      message: { text: `${f.title}. Observed: ${f.observed}; expected: ${f.expected}.` },
      locations: [
        {
          // The suite file gives code scanning a place to anchor the alert; the subject (route, event, link) is what broke.
          ...(file ? { physicalLocation: { artifactLocation: { uri: file, uriBaseId: '%SRCROOT%' } } } : {}),
          logicalLocations: [{ name: f.subject, fullyQualifiedName: `${f.suite}/${f.subject}`, kind: 'resource' }],
        },
      ],
      partialFingerprints: { 'breakwaterFindingId/v1': f.id },
      properties: {
        'security-severity': SECURITY_SEVERITY[f.severity],
        severity: f.severity,
        findingId: f.id,
        suite: f.suite,
        subject: f.subject,
        observed: f.observed,
        expected: f.expected,
        ...(f.excerpt ? { excerpt: f.excerpt } : {}),
        reproduce: f.reproduce,
      },
    };
  });
  const version = toolVersion();
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'Breakwater', ...(version ? { version, semanticVersion: version } : {}), rules } },
        // GitHub takes the category from the id up to its last "/", so each tier keeps its own alerts.
        automationDetails: { id: `breakwater/${result.tier}/${result.runId}` },
        invocations: [
          {
            executionSuccessful: result.verdict !== 'error',
            ...(result.startedAt ? { startTimeUtc: result.startedAt } : {}),
            ...(result.finishedAt ? { endTimeUtc: result.finishedAt } : {}),
          },
        ],
        results,
        properties: { verdict: result.verdict, target: result.target?.name, seed: result.seeds?.fastCheck },
      },
    ],
  };
}

/** Writes `results.sarif`. */
export function sarifReporter(): Reporter {
  return {
    name: 'sarif',
    async onRunEnd(result, ctx) {
      return ctx.emit('results.sarif', JSON.stringify(renderSarif(result), null, 2) + '\n');
    },
  };
}
