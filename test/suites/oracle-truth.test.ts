import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { inParallel, runTierCli, type TierRun } from '../helpers/tier.ts';

/**
 * The outcome oracle against a service that answers the way real ones do
 * (test/fixtures/notes with NOTES_BEHAVIOUR): empty lists as denials, and a
 * rate limiter that answers 429. Each false finding they used to cause is gone,
 * and the true finding each could hide is still made.
 */
const NOTES = 'test/fixtures/notes/breakwater.config.ts';

const JOBS: Record<string, { env: Record<string, string>; notesFlaws?: string[]; suites?: string[]; config?: string }> = {
  /** Another org's list is `200 {notes: []}`: the profile's emptyBody makes it a denial, not a critical leak. */
  'empty-list clean': { env: { NOTES_BEHAVIOUR: 'empty-list-deny' } },
  /** The same service really leaking another org's list inside a 200: still critical. */
  'empty-list leaking': { env: { NOTES_BEHAVIOUR: 'empty-list-deny' }, notesFlaws: ['notes-list-cross-org'] },
  /** A 10 req/s limiter answering 429 under the matrix and token tampering: never "accepted", never a finding. */
  'limited clean': { env: { NOTES_BEHAVIOUR: 'ip-limiter', NOTES_LIMIT_PER_SECOND: '10' } },
  /** The same limiter in front of a real cross-org read: still caught (a 429 is retried, not read as a denial). */
  'limited leaking': { env: { NOTES_BEHAVIOUR: 'ip-limiter', NOTES_LIMIT_PER_SECOND: '10' }, notesFlaws: ['note-read-cross-org'] },
  /** A service that reads binary frames as text, and a profile that says so: a valid frame sent as binary is no finding. */
  'binary as text, declared': { env: { NOTES_BEHAVIOUR: 'binary-as-text' }, suites: ['abuse/payload'] },
  /** The same service under a profile that claims binary frames are refused: the declaration decides, so that is a finding. */
  'binary as text, undeclared': { env: { NOTES_BEHAVIOUR: 'binary-as-text' }, suites: ['abuse/payload'], config: 'test/fixtures/configs/notes-binary-undeclared.config.ts' },
};

const runs = new Map<string, TierRun>();
beforeAll(async () => {
  await inParallel(Object.entries(JOBS), 2, async ([key, job]) => void runs.set(key, await runTierCli({ config: job.config ?? NOTES, suites: job.suites ?? ['authz/'], env: job.env, notesFlaws: job.notesFlaws ?? [] })));
}, 600_000);

const summary = (r: TierRun) =>
  `verdict ${r.run.verdict}; findings: ${r.run.findings.map((f) => `${f.check} ${f.subject} (${f.observed})`).join(' | ') || 'none'}; inconclusive: ${r.run.checks.filter((c) => c.inconclusive).map((c) => `${c.name}: ${c.inconclusive!.reasons.join(', ')}`).join(' | ') || 'none'}; reasons: ${r.run.reasons.slice(0, 4).join(' | ')}`;

describe('the outcome oracle on a service that denies with empty lists', () => {
  test('clean: the empty 200 lists are denials, 0 findings', () => {
    const r = runs.get('empty-list clean')!;
    expect(r.run.findings, summary(r)).toEqual([]);
    // The measured figure is kept for a passing check too, in run.json and the HTML report.
    const matrix = r.run.checks.find((c) => c.name.includes('authz/matrix'))!;
    expect(matrix.state, summary(r)).toBe('passed');
    const figure = matrix.figures?.find((f) => f.what === 'cells that met their expectation');
    expect(figure && figure.value === figure.of && figure.of > 0, JSON.stringify(matrix.figures)).toBe(true);
    expect(readFileSync(join(r.out, 'report.html'), 'utf8')).toContain(`cells that met their expectation ${figure!.value} of ${figure!.of}`);
    expect(r.run.matrix?.filter((c) => c.op === 'list' && c.expected === 'deny').map((c) => [c.status, c.pass]), summary(r)).toEqual([
      [200, true],
      [200, true],
    ]);
  });

  test('a list that really leaks inside a 200 is still a critical cross-tenant finding', () => {
    const r = runs.get('empty-list leaking')!;
    const leak = r.run.findings.filter((f) => f.check === 'authz.matrix' && f.subject.startsWith('note.list'));
    expect(leak.length, summary(r)).toBe(2);
    expect(leak.every((f) => f.severity === 'critical'), summary(r)).toBe(true);
  });
});

describe('the outcome oracle on a service behind a rate limiter', () => {
  test('clean: no 429 becomes a finding (token tampering and the matrix); what stayed limited is counted as inconclusive', () => {
    const r = runs.get('limited clean')!;
    expect(r.run.findings, summary(r)).toEqual([]);
    expect(r.run.verdict, summary(r)).toBe('pass');
    for (const c of r.run.checks.filter((c) => c.inconclusive)) expect(c.inconclusive!.reasons.join(), summary(r)).toMatch(/rate-limited \(429\)/);
  });

  test('a real cross-org read behind the limiter is still caught', () => {
    const r = runs.get('limited leaking')!;
    expect(r.run.findings.some((f) => f.check === 'authz.matrix' && f.subject.startsWith('note.read') && f.severity === 'critical'), summary(r)).toBe(true);
  });
});

describe('binary frames as the profile declares them', () => {
  test('a service that reads binary as text, declared so (binaryFrames: text): 0 payload findings', () => {
    const r = runs.get('binary as text, declared')!;
    expect(r.run.findings, summary(r)).toEqual([]);
  });

  test('the same service under a profile that says binary is refused: the valid binary frame is a payload-guard finding', () => {
    const r = runs.get('binary as text, undeclared')!;
    expect(r.run.findings.some((f) => f.check === 'abuse.payload-guard' && /binary|raw-frame/.test(`${f.subject} ${f.observed} ${f.excerpt}`)), summary(r)).toBe(true);
  });
});
