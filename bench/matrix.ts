import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import referenceChat from '../profiles/reference-chat.ts';
import type { TargetProfile } from '../harness/config/target.ts';
import { runAuthzMatrix } from '../harness/suite/authz-matrix.ts';
import { authHeaders, createTargetContext, fillPath, type TargetContext } from '../harness/suite/use-target.ts';
import { startLocalStack } from '../harness/stack/local-provider.ts';
import { median, type BenchResult } from './types.ts';

const ROOT = join(import.meta.dirname, '..');
const CONCURRENCY = 8;
const WINDOW_S = 5;

/** The profile with every principal and every resource doubled: a 4× matrix. */
function quadrupled(profile: TargetProfile): TargetProfile {
  const principals = { ...profile.principals };
  for (const [n, p] of Object.entries(profile.principals)) principals[`${n}Twin`] = p;
  const resources = { ...profile.resources };
  for (const [n, r] of Object.entries(profile.resources)) resources[`${n}Twin`] = r;
  return { ...profile, principals, resources };
}

/**
 * The authz matrix's request rate against autocannon on the same (read-only)
 * routes with the same credentials and concurrency, and how the matrix's time
 * grows with 4× the cells.
 */
export async function benchMatrix(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-matrix-'));
  const runId = `bench-matrix-${process.pid}`;
  const stack = await startLocalStack(referenceChat.stack, { runId, outDir: dir, rootDir: ROOT });
  try {
    const world = await referenceChat.seed({ baseUrl: stack.info.baseUrl, runId, secret: () => {} });
    const run = { configPath: '', runId, tier: 'pr' as const, outDir: dir, numRuns: 1, fcSeed: 1, stack: stack.info, world, secrets: [], stackSecrets: { ...stack.secrets } };
    const ctx = (profile: TargetProfile): TargetContext => createTargetContext(run, profile);

    // The read-only cells of one matrix: safe to repeat as often as the window allows.
    const base = ctx(referenceChat);
    const cells = (await runAuthzMatrix(base)).filter((c) => c.route.method === 'GET');
    const requests = await Promise.all(
      cells.map(async (c) => ({ method: 'GET', path: fillPath(c.route.path, c.instance.params), headers: authHeaders(await base.credentials(c.principal.name)), principal: c.principal.name })),
    );

    const harnessRates: number[] = [];
    const cannonRates: number[] = [];
    for (let round = 0; round < 3; round++) {
      // Like autocannon: CONCURRENCY workers cycle through the cells until the window closes.
      let done = 0;
      const t0 = performance.now();
      const deadline = t0 + WINDOW_S * 1000;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, w) => {
          for (let i = w; performance.now() < deadline; i += CONCURRENCY) {
            const r = requests[i % requests.length]!;
            await base.request(r.principal, { method: 'GET', path: r.path });
            done++;
          }
        }),
      );
      harnessRates.push(done / ((performance.now() - t0) / 1000));
      const res = await autocannon({ url: stack.info.baseUrl, connections: CONCURRENCY, duration: WINDOW_S, skipAggregateResult: true, requests: requests.map(({ method, path, headers }) => ({ method, path, headers })) });
      cannonRates.push(res.totalCompletedRequests / WINDOW_S);
    }

    const times1: number[] = [];
    const times4: number[] = [];
    for (let round = 0; round < 3; round++) {
      let t = performance.now();
      const n1 = (await runAuthzMatrix(ctx(referenceChat))).length;
      times1.push(performance.now() - t);
      t = performance.now();
      const n4 = (await runAuthzMatrix(ctx(quadrupled(referenceChat)))).length;
      times4.push(performance.now() - t);
      if (n4 !== 4 * n1) throw new Error(`the 4× matrix has ${n4} cells, not 4 × ${n1}`);
    }
    const rate = median(harnessRates);
    const cannon = median(cannonRates);
    const scale = median(times4) / median(times1);
    return {
      figures: [
        { figure: 'matrix request rate (read cells)', value: Math.round(rate), unit: 'req/s' },
        { figure: 'autocannon, same routes and concurrency', value: Math.round(cannon), unit: 'req/s' },
        { figure: 'matrix rate / autocannon rate', value: Number((rate / cannon).toFixed(2)), unit: 'x', goal: '>= 0.7', pass: rate / cannon >= 0.7 },
        { figure: 'matrix time, 1x (median of 3)', value: Math.round(median(times1)), unit: 'ms' },
        { figure: 'matrix time, 4x cells (median of 3)', value: Math.round(median(times4)), unit: 'ms' },
        { figure: 'matrix time 4x / 1x', value: Number(scale.toFixed(2)), unit: 'x', goal: '<= 4.4', pass: scale <= 4.4 },
      ],
      notes: [
        `${requests.length} read-only cells, ${CONCURRENCY} in flight, ${WINDOW_S} s windows, medians of 3 alternating rounds; rates (harness / autocannon): ${harnessRates.map(Math.round).join(', ')} / ${cannonRates.map(Math.round).join(', ')}`,
        'the 4x matrix doubles both the principals and the resources of the reference profile (the twins log in as the originals); time includes seeding instances',
      ],
    };
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
