import { describe, expect, test } from 'vitest';
import { runTierCli } from '../helpers/tier.ts';

/**
 * `npm run test:nightly` (BW_NIGHTLY=1): the nightly tier end to end, with
 * its deep generation (1000 runs per property, random seeds) and the matrix
 * repeated in shuffled orders, against the clean reference target and a few
 * flawed ones. `npm test` skips it: it takes tens of minutes.
 */
const NIGHTLY = !!process.env.BW_NIGHTLY;
const HOUR = 3_600_000;

describe.runIf(NIGHTLY)('nightly tier', () => {
  test('the clean reference target passes the nightly tier with 0 findings', async () => {
    const r = await runTierCli({ tier: 'nightly', timeoutMs: HOUR });
    expect(r.run.tier).toBe('nightly');
    expect(r.run.findings).toEqual([]);
    expect(r.run.verdict, r.run.reasons.join(' | ')).toBe('pass');
  }, HOUR);

  test.each([
    ['channel-read-cross-tenant', 'authz.matrix'],
    ['ws-room-leak', 'isolation.realtime'],
    ['no-payload-cap', 'abuse.payload-guard'],
    // The nightly tier's chaos scenarios (db-reset-peer among them) with the nothing-lost check.
    ['ack-before-commit', 'chaos.lost-write'],
  ])('the nightly tier catches %s as %s', async (flaw, check) => {
    const r = await runTierCli({ tier: 'nightly', flaws: [flaw], timeoutMs: HOUR });
    expect(r.run.findings.map((f) => f.check)).toContain(check);
    expect(r.run.verdict).toBe('blocked');
  }, HOUR);
});
