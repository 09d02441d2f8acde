import { describe, expect, test } from 'vitest';
import { describeFindings, useTarget } from '../../harness/index.ts';
import type { MatrixCellResult } from '../../harness/run/result.ts';
import { BOUNDARY_SEVERITY, boundaryOf, runAuthzMatrix, unconfirmedCell } from '../../harness/suite/authz-matrix.ts';

/**
 * The authz matrix: every principal × resource × operation of the profile,
 * each cell's expectation from the profile's policy. A cell that should be
 * denied but succeeds is a finding naming the principal, the operation, the
 * route and the status. Horizontal, cross-tenant, vertical and bot-scope cells
 * are all in it, and so is a demoted admin when the profile declares one.
 * The nightly tier repeats the matrix in shuffled orders.
 */
const target = await useTarget();
const nightly = target.run.tier === 'nightly';
const rounds = Array.from({ length: nightly ? 3 : 1 }, (_, i) => i + 1);

describe('authz matrix', () => {
  test.for(rounds)('round %i: every denied cell stays denied', async (round, { task }) => {
    const outcomes = await runAuthzMatrix(target, { shuffleSeed: nightly ? target.run.fcSeed + round : undefined });
    expect(outcomes.length, 'the profile produced no matrix cells').toBeGreaterThan(0);
    const cells: MatrixCellResult[] = [];
    for (const o of outcomes) {
      const cell: MatrixCellResult = { principal: o.principal.name, resource: o.resource, op: o.op, expected: o.expected, status: o.status, pass: false };
      cells.push(cell);
      const def = target.profile.resources[o.resource]!;
      const who = `${o.principal.name} (${o.principal.role}${o.principal.kind === 'bot' ? ' bot' : ''}, ${o.principal.tenant})`;
      const subject = `${o.resource}.${o.op} ${o.route.method} ${o.route.path} as ${o.principal.name}`;
      target.tally(task, subject, o.outcome);
      if (o.outcome.verdict === 'inconclusive') {
        // Rate-limited, unavailable, a 5xx or no answer, even after retries: this cell says nothing either way.
        cell.inconclusive = o.outcome.why;
      } else if (o.expected === 'deny' && o.outcome.verdict === 'allowed') {
        const boundary = boundaryOf(o, def);
        // Reported only if it is served again on a re-run; otherwise kept as unconfirmed, blocking nothing.
        const unconfirmed = await unconfirmedCell(target, o);
        target.report(task, {
          check: def.check ?? 'authz.matrix',
          suite: 'authz/matrix',
          severity: BOUNDARY_SEVERITY[boundary],
          title: `${boundary}: ${who} can ${o.op} ${o.resource} of ${o.instance.owner} (${o.instance.tenant})`,
          subject,
          observed: `status ${o.status}, served (${o.outcome.why})`,
          expected: `denied (${target.profile.deny.statuses.join('/')}${target.profile.deny.emptyBody ? ' or an empty body' : ''})`,
          excerpt: o.excerpt,
        }, unconfirmed ? { unconfirmed } : undefined);
      } else if (o.expected === 'allow' && o.outcome.verdict === 'denied' && o.outcome.declared) {
        // Not a security finding, but a functional regression (or a stale profile): a gate must see it.
        target.report(task, {
          check: 'authz.unexpected-deny',
          suite: 'authz/matrix',
          severity: 'low',
          title: `${who} was refused ${o.op} ${o.resource}, which the policy allows`,
          subject,
          observed: o.outcome.why,
          expected: '2xx',
          excerpt: o.excerpt,
        });
      } else {
        cell.pass = true;
      }
    }
    target.figure(task, { what: 'cells that met their expectation', value: cells.filter((c) => c.pass).length, of: cells.length });
    // On the test's meta, so the run result (and the report's matrix grid) has every cell, not only the failing ones.
    task.meta.breakwater ??= { findings: [], secrets: [] };
    task.meta.breakwater.matrix = cells;
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });
});
