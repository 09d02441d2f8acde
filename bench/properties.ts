import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import referenceChat from '../profiles/reference-chat.ts';
import type { StackDefinition } from '../harness/config/target.ts';
import { startLocalStack } from '../harness/stack/local-provider.ts';
import { checkProperty } from '../harness/suite/property.ts';
import { materialize, mutationArbitrary, payloadOnWire, type MutationOptions } from '../harness/suite/payload-mutation.ts';
import { RealtimeClient, type RealtimeSocket } from '../harness/suite/realtime-client.ts';
import { createTargetContext } from '../harness/suite/use-target.ts';
import { median, type BenchResult } from './types.ts';

const ROOT = join(import.meta.dirname, '..');
const RUNS = 200;
const EVENT = 'preset.share';
const CLASS = 'wrong-type';
const REPLY_TIMEOUT_MS = 1_000;

/**
 * The reference stack with its per-user socket limiter lifted: with the
 * default 10 frames/s the figure would measure the limiter, not the harness.
 */
function unthrottled(stack: StackDefinition): StackDefinition {
  const app = stack.services.app;
  if (app?.kind !== 'process') throw new Error('reference-chat: the app service is not a process');
  return { ...stack, services: { ...stack.services, app: { ...app, env: { ...app.env, SOCKET_RATE_BURST: '1000000', SOCKET_RATE_PER_SECOND: '1000000' } } } };
}

/**
 * fast-check payload properties per second against the live target: one
 * abuse/payload property (preset.share, wrong-type mutations; a mix of
 * rejected and delivered cases) with 200 runs through `checkProperty`, each
 * case sent on a socket and awaited until it is rejected or delivered to a
 * second member. Median of 3 rounds.
 */
export async function benchProperties(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-properties-'));
  const runId = `bench-properties-${process.pid}`;
  const stack = await startLocalStack(unthrottled(referenceChat.stack), { runId, outDir: dir, rootDir: ROOT });
  const client = new RealtimeClient({ baseUrl: stack.info.baseUrl, realtime: referenceChat.realtime! });
  try {
    const world = await referenceChat.seed({ baseUrl: stack.info.baseUrl, runId, secret: () => {} });
    const run = { configPath: '', runId, tier: 'pr' as const, outDir: dir, numRuns: RUNS, fcSeed: 1, stack: stack.info, world, secrets: [], stackSecrets: { ...stack.secrets } };
    const ctx = createTargetContext(run, referenceChat);
    const rt = referenceChat.realtime!;
    const room = rt.rooms(world).find((r) => r.key === 'acme-general')!;
    const def = rt.events[EVENT]!;

    const open = async (name: string): Promise<RealtimeSocket> => {
      const outcome = await client.connect(name, await ctx.credentials(name));
      if (!outcome.connected) throw new Error(`${name} could not connect: ${outcome.reason}`);
      const from = outcome.socket.frames.length;
      outcome.socket.send(rt.join.frame(room));
      const reply = await outcome.socket.waitFor((f) => rt.join.accepted(f, room), 2_000, from);
      if (!reply) throw new Error(`${name} could not join ${room.key}`);
      return outcome.socket;
    };
    const sender = await open('acmeOwner');
    const witness = await open('acmeMember2');

    const frameOf = (payload: unknown) => def.frame(room, payload);
    const samples = fc.sample(def.arbitrary, { seed: 1, numRuns: 200 });
    const opts: MutationOptions = { sizes: [def.limits.maxBytes + 1], maxArrayLength: Math.floor(def.limits.maxBytes / 4), payloadOnWire: payloadOnWire(frameOf) };
    const arbitrary = mutationArbitrary(CLASS, def.arbitrary as fc.Arbitrary<unknown>, opts, samples)!;
    const task = { meta: {} } as never;

    const rates: number[] = [];
    let answered = 0;
    let silent = 0;
    for (let round = 0; round < 3; round++) {
      const t = performance.now();
      const finding = await checkProperty(ctx, task, {
        check: 'bench.properties',
        suite: 'bench',
        subject: `${EVENT} ${CLASS}`,
        severity: 'low',
        title: 'bench',
        expected: 'rejected or delivered',
        numRuns: RUNS,
        arbitrary,
        async holds(m) {
          const wire = materialize(m, frameOf)!;
          const from = sender.frames.length;
          const witnessFrom = witness.frames.length;
          sender.sendRaw(wire.data, { binary: wire.binary });
          // Rejected: an error reply to the sender; accepted: the preset reaches the other member.
          const hit = await Promise.race([
            sender.waitFor((f) => rt.rejectSignal.frame!(f), REPLY_TIMEOUT_MS, from),
            witness.waitFor((f) => def.delivered!(f) !== undefined, REPLY_TIMEOUT_MS, witnessFrom),
          ]);
          if (hit) answered++;
          else silent++;
          return undefined;
        },
      });
      if (finding) throw new Error(`the bench property failed: ${finding.observed}`);
      rates.push(RUNS / ((performance.now() - t) / 1000));
    }
    const rate = median(rates);
    return {
      figures: [{ figure: `payload property cases/s (${EVENT} ${CLASS}, ${RUNS} runs, median of 3)`, value: Math.round(rate), unit: 'cases/s' }],
      notes: [
        `rounds (cases/s): ${rates.map(Math.round).join(', ')}; ${answered} cases answered (rejected or delivered), ${silent} silent`,
        'the socket rate limit is lifted for this bench (SOCKET_RATE_BURST/SOCKET_RATE_PER_SECOND); with the default 10 frames/s per user, abuse/payload spreads cases over the room members and paces each at 0.9 × the declared rate',
        'each case: generate and materialize the mutation, send it on one socket, wait until the sender gets the reject frame or a second member receives the delivery; one sender, sequential',
      ],
    };
  } finally {
    await client.closeAll();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
