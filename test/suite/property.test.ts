import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TargetProfile } from '../../harness/config/target.ts';
import { checkProperty } from '../../harness/suite/property.ts';
import type { ProvidedRun } from '../../harness/suite/provided.ts';
import { createTargetContext } from '../../harness/suite/use-target.ts';

const target = () =>
  createTargetContext({ stack: { baseUrl: 'http://127.0.0.1:9' }, secrets: [], world: {}, runId: 't', fcSeed: 42, numRuns: 20, outDir: '/tmp' } as unknown as ProvidedRun, {
    name: 't',
    deny: { statuses: [403] },
    principals: {},
    resources: {},
  } as unknown as TargetProfile);
const spec = (holds: (n: number) => Promise<string | undefined>) => ({
  check: 'ssrf.canary-hit',
  suite: 'ssrf',
  subject: 'endpoint generated',
  severity: 'critical' as const,
  title: 'fetched the canary',
  arbitrary: fc.integer({ min: 0, max: 1000 }),
  expected: 'refused',
  holds,
});

describe('checkProperty: a finding must reproduce', () => {
  it('a violation that does not happen again on a re-run is kept as unconfirmed, not a finding', async (ctx) => {
    const seen = new Set<number>();
    // A glitch: each value fails the first time it is tried, and holds ever after.
    const f = await checkProperty(target(), ctx.task, spec(async (n) => (n >= 100 && !seen.has(n) ? (seen.add(n), `the canary logged case ${n}`) : (seen.add(n), undefined))));
    expect(ctx.task.meta.breakwater?.findings ?? []).toEqual([]);
    expect(ctx.task.meta.breakwater?.unconfirmed).toEqual([expect.objectContaining({ id: f!.id, check: 'ssrf.canary-hit', unconfirmed: expect.stringMatching(/held when run once more/) })]);
  });

  it('a violation that happens again is a finding', async (ctx) => {
    await checkProperty(target(), ctx.task, spec(async (n) => (n >= 100 ? `the canary logged case ${n}` : undefined)));
    expect(ctx.task.meta.breakwater?.findings).toHaveLength(1);
    expect(ctx.task.meta.breakwater?.unconfirmed ?? []).toEqual([]);
  });
});

describe('checkProperty: an exception is not a violation', () => {
  it('a dead target (every case throws "fetch failed"): no finding, every run counted inconclusive', async (ctx) => {
    const f = await checkProperty(target(), ctx.task, spec(async () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }))));
    expect(f).toBeUndefined();
    expect(ctx.task.meta.breakwater?.cases?.inconclusive).toHaveLength(20);
    expect(ctx.task.meta.breakwater?.cases?.inconclusive[0]).toMatchObject({ why: 'connection refused' });
  });

  it('a real violation is still a finding, shrunk, with its own observation (not an exception of another case)', async (ctx) => {
    const f = await checkProperty(target(), ctx.task, spec(async (n) => {
      if (n % 7 === 3) throw new Error('socket hang up');
      return n >= 100 ? `the canary logged case ${n}` : undefined;
    }));
    expect(f).toMatchObject({ check: 'ssrf.canary-hit', severity: 'critical', observed: 'the canary logged case 100' });
  });
});
