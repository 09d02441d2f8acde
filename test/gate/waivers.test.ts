import { describe, expect, it } from 'vitest';
import { globToRegExp, resolveWaivers, waiverMatches } from '../../harness/gate/waivers.ts';
import { runCli } from '../helpers/cli.ts';
import { finding } from '../helpers/evidence.ts';
import { gateWorkspace, reasonLines } from './evidence-files.ts';

const ws = gateWorkspace('bw-gate-waivers-');
const high = finding('abuse.rate-limit', 'message.send over 4 connections', 'high');
// The run finished at 20:00 on the waiver's last day; the gate looks at 22:00 that day and at 01:00 the next.
const evidence = ws.evidence('high.dsse.json', { startedAt: '2026-06-30T19:59:00.000Z', finishedAt: '2026-06-30T20:00:00.000Z', findings: [high] });
const BEFORE = '2026-06-30T22:00:00Z';
const AFTER = '2026-07-01T01:00:00Z';
const waiverFile = ws.file(
  'waivers.yaml',
  `waivers:
  - finding: ${high.id}
    reason: per-connection limit accepted until the Redis bucket ships (CHAT-412)
    owner: realtime-team
    approver: sec-lead
    expires: 2026-06-30
`,
);
const gate = (now: string, ...more: string[]) => runCli([...ws.args('pr', [evidence], '--waivers', waiverFile, ...more), '--now', now]);

describe('waivers', () => {
  it('without a waiver, the high finding blocks the pr stage', async () => {
    const r = await runCli(ws.args('pr', [evidence], '--now', BEFORE));
    expect(r.code).toBe(1);
    expect(reasonLines(r.stdout)).toEqual([expect.stringMatching(new RegExp(`high finding ${high.id} \\(abuse.rate-limit\\).*\\[BW_GATE_FINDING\\]$`))]);
  });

  it('a valid waiver waives the high finding: PROMOTE, and the waiver is named', async () => {
    const r = await gate(BEFORE);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('Breakwater gate, pr stage: PROMOTE');
    expect(r.stdout).toContain(`~ waived high finding ${high.id} (abuse.rate-limit) by waiver #0 until 2026-06-30: per-connection limit accepted until the Redis bucket ships (CHAT-412) (owner realtime-team, approved by sec-lead)`);
    const j = JSON.parse((await gate(BEFORE, '--json')).stdout);
    expect(j).toMatchObject({ verdict: 'PROMOTE', reasons: [], waived: [{ id: high.id, severity: 'high', waiver: 0, owner: 'realtime-team', approver: 'sec-lead', expires: '2026-06-30' }], expiredWaivers: [] });
  });

  it('the same waiver, expired on the injected clock, waives nothing: BLOCKED, and it is reported as expired', async () => {
    const r = await gate(AFTER);
    expect(r.code).toBe(1);
    expect(reasonLines(r.stdout)).toEqual([expect.stringMatching(/high finding .*its waiver #0 expired 2026-06-30; renew it or fix the finding \[BW_GATE_FINDING\]$/)]);
    expect(r.stdout).toContain(`! expired waiver #0 (finding ${high.id}, owner realtime-team) expired 2026-06-30: it waives nothing; it matches ${high.id}`);
    const j = JSON.parse((await gate(AFTER, '--json')).stdout);
    expect(j).toMatchObject({ verdict: 'BLOCKED', waived: [], expiredWaivers: [{ waiver: 0, owner: 'realtime-team', expires: '2026-06-30', matches: [high.id] }] });
    expect(j.rubric.categories.find((c: { id: string }) => c.id === 'delivery').basis).toMatch(/expired waivers 1/);
  });

  it('reads JSON too, and a pattern waives by check glob, subject glob or id prefix', async () => {
    const json = ws.file('waivers.json', JSON.stringify([{ check: 'abuse.*', reason: 'r', owner: 'o', approver: 'a', expires: '2026-07-01T00:30:00Z' }]));
    const r = await runCli([...ws.args('pr', [evidence], '--waivers', json), '--now', BEFORE]);
    expect(r.code, r.stdout).toBe(0);
    const base = { reason: 'r', owner: 'o', approver: 'a', expires: '2026-01-01' };
    expect(waiverMatches({ ...base, check: 'abuse.*' }, high)).toBe(true);
    expect(waiverMatches({ ...base, check: 'authz.*' }, high)).toBe(false);
    expect(waiverMatches({ ...base, subject: 'message.send over ? connections' }, high)).toBe(true);
    expect(waiverMatches({ ...base, idPrefix: high.id.slice(0, 6) }, high)).toBe(true);
    expect(waiverMatches({ ...base, idPrefix: high.id.slice(0, 6), check: 'authz.*' }, high)).toBe(false);
    expect(globToRegExp('GET /uploads/*').test('GET /uploads/{id} as eve')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });

  it('a date-only expiry holds through that day (UTC); a date-time is exact', () => {
    const [d, t] = resolveWaivers({ waivers: [{ finding: 'x', reason: 'r', owner: 'o', approver: 'a', expires: '2026-06-30' }, { finding: 'x', reason: 'r', owner: 'o', approver: 'a', expires: '2026-06-30T12:00:00Z' }] }, 'w.yaml');
    expect(new Date(d!.expiresAt).toISOString()).toBe('2026-07-01T00:00:00.000Z');
    expect(new Date(t!.expiresAt).toISOString()).toBe('2026-06-30T12:00:00.000Z');
  });

  it('a waiver missing a field, or a bad waiver file, is a usage error in one line naming the field (exit 2)', async () => {
    const full = { finding: high.id, reason: 'r', owner: 'o', approver: 'a', expires: '2026-06-30' };
    const cases: [string, string, RegExp][] = [];
    for (const field of ['reason', 'owner', 'approver', 'expires'] as const) {
      const { [field]: _gone, ...rest } = full;
      cases.push([`no-${field}.json`, JSON.stringify({ waivers: [rest] }), new RegExp(`invalid waiver file .*no-${field}\\.json: waivers\\[0\\]\\.${field}: is required`)]);
    }
    cases.push(['no-selector.yaml', 'waivers:\n  - reason: r\n    owner: o\n    approver: a\n    expires: 2026-06-30\n', /waivers\[0\]: needs a finding id \("finding"\) or a pattern/]);
    cases.push(['bad-date.yaml', `waivers:\n  - finding: ${high.id}\n    reason: r\n    owner: o\n    approver: a\n    expires: next friday\n`, /waivers\[0\]\.expires: must be an ISO date/]);
    cases.push(['typo.yaml', `waivers:\n  - finding: ${high.id}\n    reason: r\n    owner: o\n    approver: a\n    expiry: 2026-06-30\n`, /waivers\[0\]/]);
    cases.push(['broken.yaml', 'waivers: [\n', /is not valid YAML/]);
    await Promise.all(
      cases.map(async ([name, body, msg]) => {
        const r = await runCli([...ws.args('pr', [evidence], '--waivers', ws.file(name, body)), '--now', BEFORE]);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        expect(r.stdout).toBe('');
        const lines = r.stderr.split('\n').filter(Boolean);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(msg);
        expect(lines[0]).toMatch(/\[BW_USAGE\]$/);
      }),
    );
  });
});
