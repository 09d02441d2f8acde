import { describe, expect, it } from 'vitest';
import type { EvidencePredicate } from '../../harness/evidence/statement.ts';
import { flakyChecks } from '../../harness/gate/flake.ts';
import type { CheckResult } from '../../harness/run/result.ts';
import { runCli } from '../helpers/cli.ts';
import { evidenceStatement, fakeRun, signedBytes } from '../helpers/evidence.ts';
import { gateWorkspace, NOW } from './evidence-files.ts';

const ws = gateWorkspace('bw-gate-flake-');
const FLIPPY = 'suites/isolation/realtime.pr.test.ts > revocation';
const STEADY = 'suites/smoke/stack.pr.test.ts > answers';
const commitOf = (i: number) => i.toString(16).padStart(2, '0').repeat(20);
const checks = (flippy: CheckResult['state']): CheckResult[] => [
  { name: STEADY, suite: 'suites/smoke/stack.pr.test.ts', state: 'passed', durationMs: 1, findings: 0 },
  { name: FLIPPY, suite: 'suites/isolation/realtime.pr.test.ts', state: flippy, durationMs: 1, findings: 0 },
];
const at = (i: number) => new Date(Date.parse(NOW) - (i + 1) * 3_600_000).toISOString();

describe('flake history', () => {
  it('a check that passed and failed on the same commit is flagged, over the last 20 verified runs; unverifiable files are ignored with a note', async () => {
    // 24 past runs, newest first; only the newest 20 count. Runs 3 and 4 share a commit, on which FLIPPY passed then failed.
    for (let i = 0; i < 24; i++) {
      const commit = i === 4 ? commitOf(3) : commitOf(i + 1);
      const state = i === 4 ? 'failed' : 'passed';
      ws.evidence(`history/run-${i}/evidence.dsse.json`, { runId: `pr-hist-${i}`, startedAt: at(i), finishedAt: at(i), checks: checks(state) }, commit);
    }
    // Old flips outside the window do not count; a stranger's evidence and a torn file are ignored.
    ws.evidence('history/run-30/evidence.dsse.json', { runId: 'pr-hist-30', startedAt: at(30), finishedAt: at(30), checks: checks('failed') }, commitOf(30));
    ws.file('history/stranger.dsse.json', signedBytes(evidenceStatement(ws.stranger.key), ws.stranger.key));
    ws.file('history/torn.dsse.json', '{"payloadType":"applic');

    const r = await runCli([...ws.args('pr', [ws.evidence('current.dsse.json')], '--history', `${ws.dir}/history`), '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    // The window is the newest 20 of the history and the evidence under gate together: 2 flaky runs of 20 = 10 %.
    expect(d.flaky).toEqual([{ check: FLIPPY, rate: 0.1, flakyRuns: 2, runs: 20, commits: [commitOf(3)] }]);
    expect(d.notes).toEqual([
      expect.stringMatching(/^history: ignored .*stranger\.dsse\.json is signed by key .* \[BW_EVIDENCE_UNTRUSTED_KEY\]$/),
      expect.stringMatching(/^history: ignored .*torn\.dsse\.json is truncated.* \[BW_EVIDENCE_TRUNCATED\]$/),
    ]);

    const human = await runCli(ws.args('pr', [ws.evidence('current.dsse.json')], '--history', `${ws.dir}/history`));
    expect(human.stdout).toContain(`flaky checks (last 20 runs, flagged at 2 %):\n  10.0 % (2/20 runs)  ${FLIPPY}  on ${commitOf(3).slice(0, 12)}`);
    expect(human.stdout).toMatch(/! history: ignored .*stranger\.dsse\.json/);
  });

  it('flags at 2 % and not below; passing and failing on different commits is not flaky', () => {
    const run = (i: number, commit: string, state: CheckResult['state']) =>
      ({ ...fakeRun({ runId: `r${i}`, finishedAt: new Date(1_700_000_000_000 - i * 1000).toISOString(), checks: checks(state) }), source: { commit, dirty: false } }) as unknown as EvidencePredicate;
    const flip = [run(0, commitOf(1), 'passed'), run(1, commitOf(1), 'failed')];
    const filler = (n: number) => Array.from({ length: n }, (_, i) => run(i + 2, commitOf(i + 2), 'passed'));
    expect(flakyChecks([...flip, ...filler(98)], { window: 100 })).toEqual([{ check: FLIPPY, rate: 0.02, flakyRuns: 2, runs: 100, commits: [commitOf(1)] }]);
    expect(flakyChecks([...flip, ...filler(99)], { window: 101 })).toEqual([]);
    expect(flakyChecks([run(0, commitOf(1), 'passed'), run(1, commitOf(2), 'failed')])).toEqual([]);
  });

  it('--history that is not a directory is a usage error', async () => {
    const r = await runCli(ws.args('pr', [ws.evidence('current2.dsse.json')], '--history', `${ws.dir}/nope`));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--history .*nope is not a directory.*\[BW_USAGE\]\n$/);
  });
});

describe('flake history across tiers', () => {
  it('passing at the PR tier and failing at the nightly tier on one commit is a depth difference, not a flake', () => {
    const run = (i: number, tier: 'pr' | 'nightly', state: CheckResult['state']) =>
      ({ ...fakeRun({ runId: `t${i}`, tier, finishedAt: new Date(1_700_000_000_000 - i * 1000).toISOString(), checks: checks(state) }), source: { commit: commitOf(7), dirty: false } }) as unknown as EvidencePredicate;
    expect(flakyChecks([run(0, 'pr', 'passed'), run(1, 'nightly', 'failed')])).toEqual([]);
    // The same two outcomes within one tier are a flake.
    expect(flakyChecks([run(0, 'nightly', 'passed'), run(1, 'nightly', 'failed')]).map((f) => f.check)).toEqual([FLIPPY]);
  });
});
