import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test, type TestContext } from 'vitest';
import { describeFindings, useTarget, type Credentials, type PrincipalInfo, type RealtimeEvent, type RealtimeRoom } from '../../harness/index.ts';
import type { HttpLimit } from '../../harness/config/target.ts';
import { flood, type FloodReply, type FloodReplySource, type FloodResult } from '../../harness/suite/flood.ts';
import { RealtimeClient, type RealtimeSocket } from '../../harness/suite/realtime-client.ts';
import type { HttpExchange } from '../../harness/suite/use-target.ts';
import { stringLeaves, valueAt as at, type Path } from '../../harness/suite/json-path.ts';

/**
 * Rate limits, generated from the profile: the declared socket limits
 * (`realtime.events[*].limits`) hold for a principal however it spreads its
 * frames (one connection, several, reconnects, two event types), a sender
 * under the limit is never throttled, another principal's messages stay
 * within the delivery SLO during a flood, and every declared HTTP limit
 * (`httpLimits`) answers with its signal once exhausted.
 *
 * A declared limit is read as one principal's budget: `burst` frames at
 * once, refilled at `ratePerSecond`. A correct limiter can never accept more
 * than `burst + ratePerSecond × elapsed` in any window, so the bound below
 * only adds a tolerance for clocks and rounding and cannot flag a correct one.
 */
const target = await useTarget();
const realtime = target.profile.realtime;
const SUITE = 'abuse/rate-limit';
const nightly = target.run.tier === 'nightly';

/** Accepted frames may exceed `burst + rate × elapsed` by this share of the refill, plus `SLACK` frames. */
const TOLERANCE = 0.25;
const SLACK = 2;
/** A flood spreads `burst + FLOOD_RATE_MULTIPLE × rate` frames over this long. */
const FLOOD_SPREAD_MS = 1_000;
const FLOOD_RATE_MULTIPLE = 3;
/** Hard bound on any one flood's sending. */
const FLOOD_MAX_MS = 3_000;
/** Connections of one principal in the across-connections check. */
const CONNECTIONS = nightly ? 8 : 4;
/** Added to `burst / rate` before a bucket counts as refilled. */
const REFILL_MARGIN_MS = 500;
/** The neighbour sends at this share of its own rate. */
const NEIGHBOUR_RATE_SHARE = 0.5;
const REPLY_TIMEOUT_MS = 2_000;
/** Tries of the just-under check before a throttled sender counts as a too-strict limiter. */
const JUST_UNDER_ATTEMPTS = 2;
const JOIN_ATTEMPTS = 6;
/** HTTP attempts beyond the limit, and how many are in flight at once. */
const HTTP_EXTRA = 5;
const HTTP_CONCURRENCY = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

type Limits = RealtimeEvent['limits'];

/** The most a correct limiter with these budgets accepts within `elapsedMs`. */
function budget(limits: Limits[], elapsedMs: number): number {
  const burst = limits.reduce((n, l) => n + l.burst, 0);
  const rate = limits.reduce((n, l) => n + l.ratePerSecond, 0);
  return burst + rate * (elapsedMs / 1000) * (1 + TOLERANCE) + SLACK;
}
const declared = (l: Limits) => `declared burst ${l.burst} + ${l.ratePerSecond}/s`;
const toleranceNote = `bound = burst + rate × elapsed × ${1 + TOLERANCE} + ${SLACK}`;

/** One event the suite floods with: payloads that carry a unique token, recognised on delivery. */
interface Probe {
  name: string;
  def: RealtimeEvent;
  /** The payload carrying `token`. */
  payload(token: string): unknown;
}

/** A principal sending into one room it belongs to. */
interface Seat {
  info: PrincipalInfo;
  room: RealtimeRoom;
}

/**
 * Tokens are `bw` + a 5-hex nonce naming one flood + the frame's index in 3
 * base-36 digits: 10 characters, short enough for the typical samples of a
 * string arbitrary (whose declared maximum cannot be read back).
 */
const TOKEN_LENGTH = 10;
const MAX_FRAMES_PER_FLOOD = 36 ** 3;
const tokenOf = (nonce: string, i: number) => `bw${nonce}${i.toString(36).padStart(3, '0')}`;
const TOKEN_RE = /bw([0-9a-f]{5})([0-9a-z]{3})/g;

describe.skipIf(!realtime)('socket rate limit', () => {
  const rt = realtime!;
  const client = new RealtimeClient({ baseUrl: target.baseUrl, realtime: rt });
  const rooms = rt ? rt.rooms(target.world) : [];
  const rateLimited = (f: unknown) => !!rt.rateLimitSignal.frame?.(f);
  const signalled = (s: RealtimeSocket, from: number) =>
    s.frames.slice(from).some((f) => safely(() => rateLimited(f.data))) || (rt.rateLimitSignal.closeCode !== undefined && s.closeInfo?.code === rt.rateLimitSignal.closeCode);
  const signalName = [rt?.rateLimitSignal.frame ? 'the rateLimitSignal frame' : '', rt?.rateLimitSignal.closeCode !== undefined ? `close ${rt.rateLimitSignal.closeCode}` : ''].filter(Boolean).join(' or ');

  /** Broadcast events whose deliveries can be counted, in profile order. */
  const probes: Probe[] = [];
  const probeNotes: string[] = [];
  for (const [name, def] of Object.entries(rt?.events ?? {})) {
    if (!def.delivered) probeNotes.push(`${name}: no \`delivered\`, so accepted frames cannot be counted`);
    else if (def.relay) probeNotes.push(`${name}: a relay event reaches one peer only; broadcast events are counted instead`);
    else {
      const payload = tokenPayload(def, name);
      if (typeof payload === 'string') probeNotes.push(`${name}: ${payload}`);
      else probes.push({ name, def, payload });
    }
  }
  const probe = probes[0];

  const canSend = (p: PrincipalInfo, def: RealtimeEvent) =>
    p.kind === 'user' || ((!rt.scope || p.scopes.includes(rt.scope)) && (!def.scope || p.scopes.includes(def.scope)));
  /** Principals whose login gave credentials a socket can use. */
  const usable = new Map<string, Credentials>();
  const unusableNotes: string[] = [];
  /** When each principal last spent its budget (performance.now()); absent: never in this file. */
  const lastSpent = new Map<string, number>();
  const refillMs = (l: Limits) => (l.burst / l.ratePerSecond) * 1000 + REFILL_MARGIN_MS;

  /** Every (principal, room) from which all of `defs` can be sent. */
  const seatsFor = (defs: RealtimeEvent[]): Seat[] =>
    rooms.flatMap((room) =>
      room.members
        .map((m) => target.principals.find((p) => p.name === m))
        .filter((p): p is PrincipalInfo => !!p && usable.has(p.name) && defs.every((d) => canSend(p, d)))
        .map((info) => ({ info, room })),
    );

  /**
   * A seat for sending `defs`: first principals that have not spent their
   * budget in this file (other tenants than `awayFrom` first, then principals
   * not in `avoid`), else the longest-rested one after its bucket refilled.
   * Never one in `exclude`. Undefined when no seat qualifies.
   */
  async function takeSeat(defs: RealtimeEvent[], opts: { exclude?: string[]; avoid?: string[]; awayFrom?: string } = {}): Promise<Seat | undefined> {
    const seats = seatsFor(defs).filter((s) => !opts.exclude?.includes(s.info.name));
    const key = (s: Seat) => [lastSpent.get(s.info.name) ?? -1, opts.avoid?.includes(s.info.name) ? 1 : 0, s.info.tenant === opts.awayFrom ? 1 : 0];
    const seat = seats.sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      return ka[0]! - kb[0]! || ka[1]! - kb[1]! || ka[2]! - kb[2]!;
    })[0];
    if (!seat) return undefined;
    const last = lastSpent.get(seat.info.name);
    if (last !== undefined) await sleep(Math.max(0, last + Math.max(...defs.map((d) => refillMs(d.limits))) - performance.now()));
    lastSpent.set(seat.info.name, performance.now());
    return seat;
  }
  const spent = (...names: string[]) => names.forEach((n) => lastSpent.set(n, performance.now()));

  /** Joins a room, waiting out rate-limit replies (a join frame may cost a token too). */
  async function join(socket: RealtimeSocket, room: RealtimeRoom, limits: Limits): Promise<string | undefined> {
    for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
      const from = socket.frames.length;
      if (!socket.send(rt.join.frame(room))) return `socket closed (${socket.closeInfo?.code ?? 'no code'})`;
      const reply = await socket.waitFor((f) => rt.join.accepted(f, room) || rt.join.refused(f, room) || rateLimited(f), REPLY_TIMEOUT_MS, from);
      if (!reply) return socket.closeInfo ? `socket closed with ${socket.closeInfo.code}` : 'no reply to the join';
      if (rateLimited(reply.data)) {
        await sleep(1000 / limits.ratePerSecond + 50);
        continue;
      }
      return rt.join.accepted(reply.data, room) ? undefined : `join refused: ${reply.text.slice(0, 200)}`;
    }
    return `join still rate limited after ${JOIN_ATTEMPTS} attempts`;
  }

  /** A socket of `seat`'s principal, joined to its room. Throws (fails the test) when the profile's promise does not hold. */
  async function openJoined(seat: Seat, limits: Limits): Promise<RealtimeSocket> {
    const outcome = await client.connect(seat.info.name, usable.get(seat.info.name)!);
    if (!outcome.connected) throw new Error(`${seat.info.name} could not open a socket: ${outcome.reason}`);
    const refused = await join(outcome.socket, seat.room, limits);
    if (refused) {
      await outcome.socket.close();
      throw new Error(`${seat.info.name} is a member of ${seat.room.key} but could not join it: ${refused}`);
    }
    return outcome.socket;
  }

  /** Floods `probes` (alternating) into a room from `socket`; deliveries are counted on `witnesses`, rejections on `socket`. */
  function floodProbes(socket: RealtimeSocket, room: RealtimeRoom, using: Probe[], witnesses: RealtimeSocket[], shape: { count: number; spreadMs?: number }): Promise<FloodResult> {
    const nonce = randomBytes(3).toString('hex').slice(0, 5);
    const frames = using.map((p) => (i: number) => JSON.stringify(p.def.frame(room, p.payload(tokenOf(nonce, i)))));
    return flood({
      sink: socket,
      count: Math.min(shape.count, MAX_FRAMES_PER_FLOOD),
      spreadMs: shape.spreadMs,
      maxMs: FLOOD_MAX_MS,
      frame: (i) => frames[i % frames.length]!(i),
      replies: {
        sources: [...new Set([socket, ...witnesses])],
        classify(data, _frame, source): FloodReply | undefined {
          for (const p of using) {
            const index = deliveredIndex(p.def, data, nonce);
            if (index !== undefined) return { verdict: 'accepted', index };
          }
          return source === socket && rateLimited(data) ? { verdict: 'rejected' } : undefined;
        },
        maxWaitMs: REPLY_TIMEOUT_MS,
      },
    });
  }

  const floodCount = (l: Limits) => l.burst + FLOOD_RATE_MULTIPLE * l.ratePerSecond;
  const measured = (r: Pick<FloodResult, 'accepted' | 'sent' | 'rejected'>, elapsedMs: number) =>
    `accepted ${r.accepted} of ${r.sent} in ${seconds(elapsedMs)} (${(r.accepted / Math.max(elapsedMs / 1000, 0.001)).toFixed(1)}/s, ${r.rejected} rate-limit replies)`;
  const endOf = (r: FloodResult) => r.lastReplyAt ?? r.startedAt + r.sendMs;

  beforeAll(async () => {
    await Promise.all(
      target.principals.map(async (p) => {
        try {
          const cred = await target.credentials(p.name);
          const why = client.unusable(cred);
          if (why) unusableNotes.push(`${p.name}: ${why}`);
          else usable.set(p.name, cred);
        } catch (err) {
          unusableNotes.push(`${p.name}: login failed: ${target.redactor.redact((err as Error).message)}`);
        }
      }),
    );
  });

  afterAll(async () => {
    await client.closeAll();
  });

  /** Skips the test when no probe or no seat can be had; returns them otherwise. */
  function needProbe(ctx: TestContext): Probe {
    if (!probe) ctx.skip(`no realtime event can be counted on delivery (${probeNotes.join('; ') || 'none declared'})`);
    return probe!;
  }
  function needSeat(ctx: TestContext, seat: Seat | undefined, events: string): Seat {
    if (!seat) ctx.skip(`no principal may send ${events} into a room${unusableNotes.length ? ` (${unusableNotes.join('; ')})` : ''}`);
    return seat!;
  }
  const avoidFlooder = () => (flooder ? [flooder.seat.info.name] : []);
  /** Skips a check of one principal's budget when the profile declares the limit per connection. */
  function needPrincipalBudget(ctx: TestContext, p: Probe): void {
    if (p.def.limits.per === 'connection') ctx.skip(`the profile declares ${p.name}'s limit per connection: a principal's connections and reconnects each get their own budget`);
  }

  /** The flooder of the one-connection check, kept open for the just-under check at the end. */
  let flooder: { seat: Seat; socket: RealtimeSocket } | undefined;

  test('abuse.rate-limit: one connection flooding gets no more than its budget, sees the signal, and does not slow a neighbour', async (ctx) => {
    const { task } = ctx;
    const p = needProbe(ctx);
    const limits = p.def.limits;
    const seat = needSeat(ctx, await takeSeat([p.def]), p.name);
    const socket = await openJoined(seat, limits);
    flooder = { seat, socket };

    // The neighbour: another principal, in another tenant when there is one, sending at a modest rate throughout.
    const nbSeat = await takeSeat([p.def], { exclude: [seat.info.name], awayFrom: seat.info.tenant });
    const nbSocket = nbSeat ? await openJoined(nbSeat, limits) : undefined;
    const witnessName = nbSeat?.room.members.find((m) => m !== nbSeat.info.name && m !== seat.info.name && usable.has(m));
    const nbWitness = witnessName && nbSeat ? await openJoined({ info: target.principals.find((x) => x.name === witnessName)!, room: nbSeat.room }, limits).catch(() => undefined) : undefined;

    const from = socket.frames.length;
    const nbDuration = FLOOD_SPREAD_MS + 300;
    const nbRate = limits.ratePerSecond * NEIGHBOUR_RATE_SHARE;
    const [main, nb] = await Promise.all([
      floodProbes(socket, seat.room, [p], [], { count: floodCount(limits), spreadMs: FLOOD_SPREAD_MS }),
      nbSocket ? floodProbes(nbSocket, nbSeat!.room, [p], nbWitness ? [nbWitness] : [], { count: Math.max(3, Math.ceil((nbDuration / 1000) * nbRate)), spreadMs: nbDuration }) : undefined,
    ]);
    spent(seat.info.name);
    if (nbSeat) spent(nbSeat.info.name);

    const elapsed = endOf(main) - main.startedAt;
    const bound = budget([limits], elapsed);
    const observed = measured(main, elapsed);
    await ctx.annotate(`${p.name} from ${seat.info.name} on one connection: ${observed}; ${declared(limits)}; ${toleranceNote} = ${bound.toFixed(1)}`);
    target.figure(task, { what: `${p.name}, one connection: frames accepted`, value: main.accepted, of: main.sent, bound: Number(bound.toFixed(1)) });
    expect(main.sent, `the flood sent only ${main.sent} of ${floodCount(limits)} frames (${main.stoppedBy})`).toBeGreaterThan(limits.burst);
    if (main.accepted > bound) {
      target.report(task, {
        check: 'abuse.rate-limit',
        suite: SUITE,
        severity: 'high',
        title: `${p.name} accepts more frames than its declared rate limit on one connection`,
        subject: `${p.name} one connection`,
        observed: `${observed} as ${seat.info.name}`,
        expected: `at most ${bound.toFixed(1)} (${declared(limits)}; ${toleranceNote})`,
      });
    }
    // A limiter that let everything through is reported above; a missing signal matters when frames were held back.
    if (main.accepted < main.sent && !signalled(socket, from)) {
      target.report(task, {
        check: 'abuse.rate-limit-signal',
        suite: SUITE,
        severity: 'medium',
        title: `${p.name} frames over the limit are dropped without the declared rate-limit signal`,
        subject: `${p.name} rate-limit signal`,
        observed: `${observed}; no rate-limit frame${rt.rateLimitSignal.closeCode !== undefined ? ` and no close ${rt.rateLimitSignal.closeCode}` : ''}${socket.closeInfo ? ` (closed with ${socket.closeInfo.code})` : ''}`,
        expected: `${signalName || 'a rate-limit signal'} for frames over the limit`,
      });
    }

    const nbNotes: string[] = [];
    if (!nb || !nbSeat) nbNotes.push('no second principal can send: neighbour not measured');
    else {
      const slo = target.profile.slos.find((s) => s.indicator === 'ws_delivery_p95_ms');
      const rtts = Array.from(nb.repliedAt, (at, i) => (nb.verdicts[i] === 'accepted' ? at - nb.sentAt[i]! : Number.NaN)).filter((v) => !Number.isNaN(v));
      const p95 = percentile(rtts, 0.95);
      const lost = nb.sent - rtts.length;
      const nbObserved = `${nbSeat.info.name} in ${nbSeat.room.key}: ${rtts.length} of ${nb.sent} delivered (${nb.rejected} rate-limited), p95 ${p95 === undefined ? 'n/a' : `${p95.toFixed(0)} ms`}, max ${rtts.length ? Math.max(...rtts).toFixed(0) : 'n/a'} ms, while ${seat.info.name} flooded ${seat.room.key}`;
      await ctx.annotate(`neighbour: ${nbObserved}${slo ? `; SLO ${slo.id} ≤ ${slo.objective} ms` : '; no ws_delivery_p95_ms SLO declared, latency not judged'}`);
      const slow = slo && p95 !== undefined && p95 > slo.objective;
      if (lost > 0 || slow) {
        target.report(task, {
          check: 'abuse.noisy-neighbour',
          suite: SUITE,
          severity: 'medium',
          title: `one principal's ${p.name} flood ${lost > 0 ? 'costs another principal its messages' : 'slows another principal past the delivery SLO'}`,
          subject: `${p.name} neighbour during a flood`,
          observed: nbObserved,
          expected: `every message delivered${slo ? `, p95 ≤ ${slo.objective} ms (${slo.id})` : ''}`,
        });
      }
      await Promise.all([nbSocket!.close(), nbWitness?.close()]);
    }
    if (nbNotes.length) await ctx.annotate(nbNotes.join('\n'));
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  test(`abuse.rate-limit: ${CONNECTIONS} connections of one principal share one budget`, async (ctx) => {
    const { task } = ctx;
    const p = needProbe(ctx);
    needPrincipalBudget(ctx, p);
    const limits = p.def.limits;
    const seat = needSeat(ctx, await takeSeat([p.def], { avoid: avoidFlooder() }), p.name);
    const opened = await Promise.allSettled(Array.from({ length: CONNECTIONS }, () => openJoined(seat, limits)));
    const sockets = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refusedWhy = opened.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []));
    try {
      if (sockets.length < 2) ctx.skip(`${seat.info.name} could not hold 2 connections at once (${refusedWhy[0] ?? 'unknown'}): nothing to spread a flood over`);
      const results = await Promise.all(sockets.map((s) => floodProbes(s, seat.room, [p], sockets, { count: floodCount(limits), spreadMs: FLOOD_SPREAD_MS })));
      spent(seat.info.name);
      const start = Math.min(...results.map((r) => r.startedAt));
      const elapsed = Math.max(...results.map(endOf)) - start;
      const total = { accepted: sum(results.map((r) => r.accepted)), sent: sum(results.map((r) => r.sent)), rejected: sum(results.map((r) => r.rejected)) };
      const bound = budget([limits], elapsed);
      const observed = `${measured(total, elapsed)} over ${sockets.length} connections (per connection: ${results.map((r) => r.accepted).join(', ')})`;
      await ctx.annotate(`${p.name} from ${seat.info.name}: ${observed}; ${declared(limits)} per principal; bound ${bound.toFixed(1)}${refusedWhy.length ? `; ${refusedWhy.length} connections refused: ${refusedWhy[0]}` : ''}`);
      target.figure(task, { what: `${p.name}, ${sockets.length} connections of one principal: frames accepted`, value: total.accepted, of: total.sent, bound: Number(bound.toFixed(1)) });
      if (total.accepted > bound) {
        target.report(task, {
          check: 'abuse.rate-limit',
          suite: SUITE,
          severity: 'high',
          title: `${p.name}'s rate limit multiplies with the number of connections`,
          subject: `${p.name} across connections`,
          observed: `${observed} as ${seat.info.name}`,
          expected: `at most ${bound.toFixed(1)} in total: one budget per principal (${declared(limits)}; ${toleranceNote})`,
        });
      }
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  test('abuse.rate-limit: reconnecting does not refill the budget', async (ctx) => {
    const { task } = ctx;
    const p = needProbe(ctx);
    needPrincipalBudget(ctx, p);
    const limits = p.def.limits;
    const seat = needSeat(ctx, await takeSeat([p.def], { avoid: avoidFlooder() }), p.name);
    const exhaust = { count: limits.burst + limits.ratePerSecond };
    const first = await openJoined(seat, limits);
    const before = await floodProbes(first, seat.room, [p], [], exhaust);
    await first.close();
    const again = await openJoined(seat, limits);
    let after: FloodResult;
    try {
      after = await floodProbes(again, seat.room, [p], [], exhaust);
    } finally {
      await again.close();
    }
    spent(seat.info.name);
    const elapsed = endOf(after) - before.startedAt;
    const bound = budget([limits], elapsed);
    const refillOnly = Math.max(0, bound - before.accepted);
    const observed = `before reconnecting ${measured(before, endOf(before) - before.startedAt)}; after reconnecting ${measured(after, endOf(after) - after.startedAt)}; ${before.accepted + after.accepted} in ${seconds(elapsed)} in all`;
    await ctx.annotate(`${p.name} from ${seat.info.name}: ${observed}; after the first flood the refill allows ≤ ${refillOnly.toFixed(1)} (${toleranceNote} = ${bound.toFixed(1)} in all)`);
    target.figure(task, { what: `${p.name}, before and after reconnecting: frames accepted`, value: before.accepted + after.accepted, of: before.sent + after.sent, bound: Number(bound.toFixed(1)) });
    if (before.rejected === 0) await ctx.annotate(`the first flood drew no rate-limit reply, so the bucket may not have been empty before reconnecting`);
    if (before.accepted + after.accepted > bound) {
      target.report(task, {
        check: 'abuse.rate-limit',
        suite: SUITE,
        severity: 'high',
        title: `reconnecting refills ${p.name}'s rate limit`,
        subject: `${p.name} across reconnects`,
        observed: `${observed} as ${seat.info.name}`,
        expected: `after reconnecting at most the refill, ${refillOnly.toFixed(1)} (${declared(limits)}; ${toleranceNote} = ${bound.toFixed(1)} in all), not a fresh burst`,
      });
    }
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  test('abuse.rate-limit: alternating two limited events stays within their combined budgets', async (ctx) => {
    const { task } = ctx;
    if (probes.length < 2) ctx.skip(`fewer than two limited events can be counted on delivery (${probeNotes.join('; ') || `only ${probes.map((x) => x.name).join(', ')}`})`);
    const pair = probes.slice(0, 2);
    const limits = pair.map((x) => x.def.limits);
    const seat = needSeat(ctx, await takeSeat(pair.map((x) => x.def), { avoid: avoidFlooder() }), pair.map((x) => x.name).join(' and '));
    const socket = await openJoined(seat, limits[0]!);
    let result: FloodResult;
    try {
      result = await floodProbes(socket, seat.room, pair, [], { count: sum(limits.map(floodCount)), spreadMs: FLOOD_SPREAD_MS });
    } finally {
      await socket.close();
    }
    spent(seat.info.name);
    const elapsed = endOf(result) - result.startedAt;
    const bound = budget(limits, elapsed);
    const per = pair.map((x, k) => `${x.name} ${result.verdicts.filter((v, i) => v === 'accepted' && i % 2 === k).length}`).join(', ');
    const observed = `${measured(result, elapsed)} alternating ${pair.map((x) => x.name).join(' and ')} (${per})`;
    await ctx.annotate(`${seat.info.name}: ${observed}; combined bound ${bound.toFixed(1)} (${pair.map((x) => `${x.name}: ${declared(x.def.limits)}`).join('; ')})`);
    target.figure(task, { what: `${pair.map((x) => x.name).join(' + ')} alternating: frames accepted`, value: result.accepted, of: result.sent, bound: Number(bound.toFixed(1)) });
    if (result.accepted > bound) {
      target.report(task, {
        check: 'abuse.rate-limit',
        suite: SUITE,
        severity: 'high',
        title: `alternating ${pair.map((x) => x.name).join(' and ')} gets past both rate limits`,
        subject: `${pair.map((x) => x.name).join(' + ')} alternating`,
        observed: `${observed} as ${seat.info.name}`,
        expected: `at most ${bound.toFixed(1)}: the sum of both budgets (${pair.map((x) => declared(x.def.limits)).join(' and ')}; ${toleranceNote})`,
      });
    }
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  // Runs last: the one-connection flooder's bucket refills while the checks above use other principals.
  test('a sender just under the limit is never throttled', async (ctx) => {
    const p = needProbe(ctx);
    const limits = p.def.limits;
    if (!flooder || !flooder.socket.open) ctx.skip('the one-connection check did not leave an open flooder socket');
    const { seat, socket } = flooder!;
    const count = Math.max(1, limits.burst - 2);
    const attempts: string[] = [];
    let r: FloodResult | undefined;
    // Suites running alongside may spend the same principal's budget: a second attempt after another rest tells that apart from a strict limiter.
    for (let attempt = 0; attempt < JUST_UNDER_ATTEMPTS && (!r || r.accepted < count); attempt++) {
      await sleep(Math.max(0, (lastSpent.get(seat.info.name) ?? 0) + refillMs(limits) - performance.now()));
      r = await floodProbes(socket, seat.room, [p], [], { count, spreadMs: (count * 1000) / limits.ratePerSecond });
      spent(seat.info.name);
      attempts.push(measured(r, endOf(r) - r.startedAt));
    }
    await ctx.annotate(`${seat.info.name}, ${count} frames at ${limits.ratePerSecond}/s after the bucket refilled: ${attempts.join('; then ')}`);
    expect(r!.rejected, `${r!.rejected} of ${count} frames sent at ${limits.ratePerSecond}/s after a ${seconds(refillMs(limits))} rest were rate limited (${attempts.join('; then ')}): the limiter is stricter than ${declared(limits)}`).toBe(0);
    expect(r!.accepted, `only ${r!.accepted} of ${count} frames sent under the limit were delivered (${r!.sent} sent, ${r!.stoppedBy}; ${attempts.join('; then ')})`).toBe(count);
  });
});

describe('HTTP rate limits', () => {
  const limits = target.profile.httpLimits ?? [];

  test('abuse.http-rate-limit: each declared limit answers with its signal once exhausted', async (ctx) => {
    const { task } = ctx;
    if (limits.length === 0) ctx.skip('the profile declares no httpLimits');
    const notes: string[] = [];
    for (const limit of limits) {
      let probe = await probeHttpLimit(limit, target.run.runId);
      // A fixed window may roll over mid-probe and admit a second batch: only a violation that repeats on a fresh bucket counts.
      if (probe.violation) {
        const first = probe;
        probe = await probeHttpLimit(limit, `${target.run.runId}-again`);
        if (probe.violation) probe = { ...probe, observed: `${first.observed}; again on a fresh bucket: ${probe.observed}` };
      }
      notes.push(`${limit.name}: ${probe.observed}`);
      target.figure(task, { what: `${limit.name}: requests through`, value: probe.counts.accepted, of: probe.counts.attempts, bound: probe.counts.allowed });
      expect(probe.tooStrict, `${limit.name}: ${probe.tooStrict}`).toBeUndefined();
      if (probe.violation) {
        target.report(task, {
          check: 'abuse.http-rate-limit',
          suite: SUITE,
          severity: probe.violation === 'retry-after' ? 'medium' : 'high',
          title: probe.violation === 'retry-after' ? `${limit.name} rate limit answers without Retry-After` : `${limit.name} rate limit lets more than ${limit.limit} requests through`,
          subject: probe.violation === 'retry-after' ? `${limit.name} Retry-After` : `${limit.name} ${limit.method} ${limit.path}`,
          observed: probe.observed,
          expected: probe.expected,
          excerpt: probe.excerpt,
        });
      }
    }
    await ctx.annotate(notes.join('\n'));
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });
});

interface HttpProbe {
  observed: string;
  expected: string;
  /** Requests that got through, of how many, and how many the declared window allows. */
  counts: { accepted: number; attempts: number; allowed: number };
  violation?: 'too-many' | 'no-signal' | 'retry-after';
  /** Why the limit answered before its declared count (a test failure, not a finding). */
  tooStrict?: string;
  excerpt?: string;
}

/**
 * Sends `limit + HTTP_EXTRA` attempts against one bucket, `HTTP_CONCURRENCY`
 * at a time, and judges the answers by count (concurrent attempts reach the
 * server in no fixed order).
 */
async function probeHttpLimit(limit: HttpLimit, runId: string): Promise<HttpProbe> {
  const attempts = limit.limit + HTTP_EXTRA;
  const exchanges: HttpExchange[] = new Array(attempts);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: HTTP_CONCURRENCY }, async () => {
      for (let i = next++; i < attempts; i = next++) {
        exchanges[i] = await target.request(limit.as, { method: limit.method, path: limit.path, body: limit.body?.({ world: target.world, runId, i }) });
      }
    }),
  );
  const elapsed = performance.now() - started;
  const signals = exchanges.filter((ex) => ex.status === limit.signal.status).length;
  const accepted = attempts - signals;
  // A window that refills while the probe runs may admit its share of the elapsed time.
  const allowed = limit.limit + Math.ceil((limit.limit * elapsed) / (limit.windowSeconds * 1000)) + 1;
  const observed = `${accepted} of ${attempts} got through in ${seconds(elapsed)} (${HTTP_CONCURRENCY} at a time), ${signals} answered ${limit.signal.status}; declared ${limit.limit} per ${limit.windowSeconds} s`;
  const expected = `at most ${allowed} through (${limit.limit} + the window's refill over ${seconds(elapsed)} + 1), the rest ${limit.signal.status}${limit.signal.retryAfter ? ' with Retry-After' : ''}`;
  const show = (ex: HttpExchange, i: number) => `#${i + 1} ${ex.method} ${limit.path} -> ${ex.status} ${ex.text.slice(0, 200)}`;
  const firstSignal = exchanges.findIndex((ex) => ex.status === limit.signal.status);
  const counts = { accepted, attempts, allowed };
  if (signals === 0 || accepted > allowed) {
    const last = exchanges.length - 1;
    return { observed, expected, counts, violation: signals === 0 ? 'no-signal' : 'too-many', excerpt: show(exchanges[last]!, last) };
  }
  if (accepted < limit.limit) return { observed, expected, counts, tooStrict: `only ${accepted} attempts got through before ${limit.signal.status}, fewer than the declared ${limit.limit}: ${show(exchanges[firstSignal]!, firstSignal)}` };
  if (limit.signal.retryAfter) {
    const bare = exchanges.findIndex((ex) => ex.status === limit.signal.status && !ex.headers.get('retry-after'));
    if (bare !== -1) return { observed: `${observed}; attempt ${bare + 1} answered ${limit.signal.status} without Retry-After`, expected: `${limit.signal.status} with a Retry-After header`, counts, violation: 'retry-after', excerpt: show(exchanges[bare]!, bare) };
  }
  return { observed, expected, counts };
}

// ── payloads and deliveries ───────────────────────────────────────────────────

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function safely(fn: () => boolean): boolean {
  try {
    return fn();
  } catch {
    return false;
  }
}

function percentile(values: number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

/** Index of this flood's frame that a delivered frame carries, if any. */
function deliveredIndex(def: RealtimeEvent, data: unknown, nonce: string): number | undefined {
  let text: string | undefined;
  try {
    text = def.delivered?.(data);
  } catch {
    return undefined;
  }
  if (typeof text !== 'string') return undefined;
  for (const m of text.matchAll(TOKEN_RE)) if (m[1] === nonce) return parseInt(m[2]!, 36);
  return undefined;
}

/**
 * A payload builder that puts a token where the event's arbitrary produces
 * free text: the payload itself when it is a string, else the object's most
 * varied string field (not an enum such as `kind`), based on the smallest
 * sample that has it. Returns why not when the arbitrary has no such place.
 */
function tokenPayload(def: RealtimeEvent, event: string): ((token: string) => unknown) | string {
  let seed = target.run.fcSeed | 0;
  for (const ch of `rate-limit\u0000${event}`) seed = (Math.imul(seed, 31) + ch.charCodeAt(0)) | 0;
  const samples = fc.sample(def.arbitrary, { seed, numRuns: 50 });
  const fit = (path: Path) => {
    const typical = samples.map((s) => at(s, path)).filter((v): v is string => typeof v === 'string');
    if (typical.length === 0) return undefined;
    const minLen = Math.min(...typical.map((v) => v.length));
    const maxLen = Math.max(...typical.map((v) => v.length));
    return maxLen >= TOKEN_LENGTH && minLen <= maxLen ? (token: string) => token.padEnd(minLen, 'x') : undefined;
  };
  if (samples.every((s) => typeof s === 'string')) {
    const pad = fit([]);
    return pad ?? `its string payloads are shorter than the ${TOKEN_LENGTH}-character token`;
  }
  const base = samples[0];
  if (base === null || typeof base !== 'object') return 'its payload has no text field to carry a token';
  let best: { path: Path; distinct: number; pad: (t: string) => string } | undefined;
  for (const leaf of stringLeaves(base)) {
    if (leaf.path.length === 0) continue;
    const distinct = new Set(samples.map((s) => at(s, leaf.path)).filter((v) => typeof v === 'string')).size;
    const pad = fit(leaf.path);
    if (!pad || distinct < 3) continue;
    if (!best || distinct > best.distinct) best = { path: leaf.path, distinct, pad };
  }
  if (!best) return 'its payload has no free-text field long enough for a token';
  const { path, pad } = best;
  const smallest = samples
    .filter((s) => typeof at(s, path) === 'string')
    .sort((a, b) => JSON.stringify(a).length - JSON.stringify(b).length)[0];
  return (token) => {
    const payload = structuredClone(smallest) as Record<string | number, unknown>;
    const parent = at(payload, path.slice(0, -1)) as Record<string | number, unknown>;
    parent[path[path.length - 1]!] = pad(token);
    return payload;
  };
}
