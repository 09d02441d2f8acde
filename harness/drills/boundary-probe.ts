import type { ResolvedConfig } from '../config/load-config.ts';
import type { Credentials, Operation } from '../config/target.ts';
import type { MatrixCellResult } from '../run/result.ts';
import type { Redactor } from '../safety/redact.ts';
import type { StackInfo } from '../stack/types.ts';
import { BOUNDARY_SEVERITY, boundaryOf, runAuthzMatrix, type Boundary, type CellOutcome } from '../suite/authz-matrix.ts';
import { createTargetContext, type TargetContext } from '../suite/use-target.ts';

export interface BoundaryProbeOptions {
  config: ResolvedConfig;
  stack: StackInfo;
  world: unknown;
  runId: string;
  /** Where instances are created, as their owners: the serving baseline. */
  baselineUrl: string;
  /** Where every cell is sent: the instance under test. */
  candidateUrl: string;
  /** The run's (cached) logins, for creating instances through the baseline. */
  login(principal: string): Promise<Credentials>;
  /** Gets the credentials the probe saw, so every artifact stays redacted. */
  redactor: Redactor;
}

/** One cell that broke the expectation, described for a log and a decision. */
export interface BoundaryCell {
  principal: string;
  resource: string;
  op: Operation;
  /** `METHOD /path` with the instance's params filled in. */
  request: string;
  status: number;
  /** The check the matrix suite reports this resource under (e.g. `authz.matrix`, `isolation.uploads`). */
  check: string;
  boundary: Boundary;
  severity: (typeof BOUNDARY_SEVERITY)[Boundary];
  /** Redacted request and response excerpt. */
  excerpt: string;
}

export interface BoundaryProbeResult {
  cells: MatrixCellResult[];
  /** Cells the policy denies that the instance allowed: a broken boundary. */
  violations: BoundaryCell[];
  /** Cells answered with a 5xx. */
  serverErrors: BoundaryCell[];
  /** Cells the policy allows that the instance denied: a functional regression. */
  unexpectedDenies: BoundaryCell[];
  durationMs: number;
}

/**
 * The profile's authz matrix (principals × resources × operations, each
 * expectation from the profile's policy) aimed straight at one instance:
 * instances are created as their owners through the baseline, then every
 * operation is called on the candidate as every principal. It reuses the
 * matrix suite's logic (`runAuthzMatrix`) and judges cells the way the suite
 * does, so a canary is held to the same boundaries as a PR.
 */
export async function probeBoundaries(opts: BoundaryProbeOptions): Promise<BoundaryProbeResult> {
  const started = Date.now();
  const profile = opts.config.target;
  const candidate = createTargetContext(
    {
      configPath: opts.config.configPath,
      runId: opts.runId,
      tier: 'drill',
      outDir: '',
      numRuns: 1,
      fcSeed: 0,
      // Requests (and the logins behind them) go to the candidate: it must also accept the tokens it issues.
      stack: { ...opts.stack, baseUrl: opts.candidateUrl.replace(/\/+$/, '') },
      world: opts.world,
      secrets: opts.redactor.values(),
      stackSecrets: {},
    },
    profile,
  );
  const target: TargetContext = {
    ...candidate,
    createInstance(resource) {
      const def = profile.resources[resource];
      if (!def) return Promise.reject(new Error(`no resource "${resource}" in profile ${profile.name}`));
      return def.create({ baseUrl: opts.baselineUrl, world: opts.world, runId: opts.runId, as: opts.login });
    },
  };
  let outcomes: CellOutcome[];
  try {
    outcomes = await runAuthzMatrix(target);
  } finally {
    for (const v of candidate.redactor.values()) opts.redactor.add(v);
  }

  const result: BoundaryProbeResult = { cells: [], violations: [], serverErrors: [], unexpectedDenies: [], durationMs: 0 };
  for (const o of outcomes) {
    const cell: MatrixCellResult = { principal: o.principal.name, resource: o.resource, op: o.op, expected: o.expected, status: o.status, pass: false };
    result.cells.push(cell);
    const def = profile.resources[o.resource]!;
    const boundary = boundaryOf(o, def);
    const describe = (): BoundaryCell => ({
      principal: o.principal.name,
      resource: o.resource,
      op: o.op,
      request: o.excerpt.split('\n')[0]!.replace(/ as \S+$/, ''),
      status: o.status,
      check: def.check ?? 'authz.matrix',
      boundary,
      severity: BOUNDARY_SEVERITY[boundary],
      excerpt: opts.redactor.redact(o.excerpt),
    });
    // A canary that answers 5xx or nothing (inconclusive for a boundary) is still a candidate to roll back.
    if (o.outcome.verdict === 'inconclusive') result.serverErrors.push(describe());
    else if (o.expected === 'deny' && o.outcome.verdict === 'allowed') result.violations.push(describe());
    else if (o.expected === 'allow' && o.outcome.verdict === 'denied' && o.outcome.declared) result.unexpectedDenies.push(describe());
    else cell.pass = true;
  }
  result.durationMs = Date.now() - started;
  return result;
}
