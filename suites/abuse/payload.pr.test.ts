import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { request as httpRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, test, type TestContext } from 'vitest';
import { authHeaders, describeFindings, fillPath, useTarget, type Credentials, type PrincipalInfo, type RealtimeEvent, type RealtimeRoom, type RouteDefinition } from '../../harness/index.ts';
import { checkProperty, type PropertySpec } from '../../harness/suite/property.ts';
import { materialize, mutationArbitrary, payloadOnWire, SHAPE_CLASSES, ShapeModel, type Mutation, type MutationClass, type MutationOptions, type Wire } from '../../harness/suite/payload-mutation.ts';
import { RealtimeClient, type ReceivedFrame, type RealtimeSocket } from '../../harness/suite/realtime-client.ts';

/**
 * Payload abuse, generated from the profile: every realtime event (and every
 * resource route with a JSON body) gets valid payloads from its arbitrary,
 * mutated by fast-check into oversized, mistyped, incomplete, padded, deeply
 * nested, prototype-keyed and malformed frames. Four oracles:
 * - abuse.payload-guard: what the profile's limits make invalid is rejected
 *   with the declared signal; nothing malformed is accepted and delivered;
 * - abuse.crash: the entry service's health path keeps answering;
 * - abuse.neighbour-impact: a bystander in the same room can still send;
 * - abuse.relay-leak: a relay event's addressee never receives a malformed payload.
 */
const target = await useTarget();
const { profile } = target;
const rt = profile.realtime;
const SUITE = 'abuse/payload';

/** How long a mutated frame may take to be rejected or delivered. */
const REPLY_TIMEOUT_MS = 2_000;
/** The health path must answer within this. */
const HEALTH_TIMEOUT_MS = 2_000;
/** Quiet time before the relay addressee's frames are scanned for late deliveries. */
const SETTLE_MS = 300;
/** A bystander's normal send must be delivered within this. */
const NEIGHBOUR_TIMEOUT_MS = 2_000;
/** Attempts of one case that the target answers with its rate-limit signal. */
const RATE_LIMIT_ATTEMPTS = 6;
const RATE_LIMIT_BACKOFF_MS = 1_000;
/** More connections per sender when the profile says its limits are per connection. */
const EXTRA_CONNECTIONS = 2;
/**
 * Share of an event's declared rate and burst the suite uses per principal:
 * the limiter's replies stay rare, and suites running alongside keep some budget.
 */
const PACE = 0.9;
/** "Far over" any cap: larger than most frame limits (ws closes such frames early). */
const FAR_OVER_BYTES = 300 * 1024;
const HTTP_TIMEOUT_MS = 10_000;
const HTTP_MAX_ARRAY = 10_000;
/**
 * Each property is sized to finish within this at the paced send rate (the
 * nightly tier's 1000 runs would otherwise outlast the test), and each test
 * gets room for all its classes.
 */
const PROPERTY_BUDGET_MS = 90_000;
const TEST_TIMEOUT_MS = 9 * 120_000 + 60_000;
/** Seed of the samples that teach the shape model: fixed, so the oracle is the same in every run and in a replay. */
const MODEL_SEED = 0x5eed;

const CLASSES: MutationClass[] = ['size', ...SHAPE_CLASSES, 'raw-frame'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const oneLine = (s: string, max = 200) => s.replace(/\s+/g, ' ').slice(0, max);

// ── health and the stop switch ────────────────────────────────────────────────

/** The entry service's health path (the entry link's `to` service). */
const healthPath = (() => {
  const entry = profile.stack.links.find((l) => l.name === profile.stack.entry);
  const service = entry ? profile.stack.services[entry.to] : undefined;
  return service?.kind === 'process' ? service.health.path : undefined;
})();

/** Undefined when the health path answers 200 within the bound (one retry), else what was seen. */
async function unhealthy(): Promise<string | undefined> {
  if (!healthPath) return undefined;
  let seen = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    if (attempt) await sleep(300);
    try {
      const res = await httpRequest(target.baseUrl + healthPath, { method: 'GET', headersTimeout: HEALTH_TIMEOUT_MS, bodyTimeout: HEALTH_TIMEOUT_MS, signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      await res.body.dump();
      if (res.statusCode === 200) return undefined;
      seen = `GET ${healthPath} answered ${res.statusCode}`;
    } catch (err) {
      seen = `GET ${healthPath} failed: ${oneLine((err as Error).message, 120)}`;
    }
  }
  return `health unreachable (${seen})`;
}

/** Set once the target stopped answering: every remaining case is skipped. */
let down: { subject: string; observed: string } | undefined;
let crashReported = false;

// ── observations, shared by the oracles of one (subject, mutation class) ─────

type Outcome = 'rejected' | 'delivered' | 'silent' | 'closed' | 'rate-limited' | 'unsent' | 'answered';

interface Observation {
  outcome: Outcome;
  /** One line: what the target did. */
  detail: string;
  /** Payloads (decoded) that the witness received while the case was pending. */
  delivered: unknown[];
  /** The mutated payload's delivered form, to find late deliveries. */
  expected?: string;
  /** Set when the health path stopped answering right after this case. */
  crashed?: string;
  /** HTTP status, for route cases. */
  status?: number;
}

/** Observations by subject and case: the crash and relay-leak properties replay the payload-guard run's cases (same seed) without sending them twice. */
const observations = new Map<string, Observation>();
const caseKey = (subject: string, m: Mutation) => `${subject}\u0000${createHash('sha1').update(JSON.stringify(m) ?? '').digest('hex')}`;

interface Batch {
  subject: string;
  cls: MutationClass;
  arbitrary: fc.Arbitrary<Mutation>;
  /** Runs per property (default the tier's). */
  numRuns?: number;
  /** Sends one case and reports what happened; never throws for a target's misbehaviour. */
  observe(m: Mutation): Promise<Observation>;
  /** Why this observation breaks abuse.payload-guard, or undefined. */
  guard(m: Mutation, o: Observation): string | undefined;
  guardExpected: string;
  /** Why this case leaked to the relay addressee, or undefined (relay events only). */
  leak?(m: Mutation, o: Observation): string | undefined;
  /** A bystander's normal request; undefined when it worked. Absent: not checked. */
  neighbour?(): Promise<string | undefined>;
}

/** Runs one (subject, class) batch through the four oracles. */
async function runBatch(task: TestContext['task'], b: Batch): Promise<void> {
  const observed = async (m: Mutation): Promise<Observation | undefined> => {
    const key = caseKey(b.subject, m);
    const known = observations.get(key);
    if (known) return known;
    if (down) return undefined;
    const o = await b.observe(m);
    observations.set(key, o);
    if (o.crashed) down ??= { subject: b.subject, observed: o.crashed };
    return o;
  };
  const spec = (check: string, severity: PropertySpec<Mutation>['severity'], title: string, expected: string, holds: (m: Mutation, o: Observation) => string | undefined): PropertySpec<Mutation> => ({
    check,
    suite: SUITE,
    subject: b.subject,
    severity,
    title,
    expected,
    arbitrary: b.arbitrary,
    numRuns: b.numRuns,
    async holds(m) {
      const o = await observed(m);
      // No observation: the target is down, and abuse.crash owns that.
      return o && !o.crashed ? holds(m, o) : undefined;
    },
  });

  await checkProperty(target, task, spec('abuse.payload-guard', 'high', `${b.subject}: a mutated payload was not rejected`, b.guardExpected, b.guard));
  if (b.leak) {
    await sleep(SETTLE_MS);
    await checkProperty(target, task, spec('abuse.relay-leak', 'critical', `${b.subject}: the relay addressee received a malformed payload`, 'the addressed peer never receives a malformed payload', b.leak));
  }

  const crashedHere = [...observations.entries()].find(([k, o]) => k.startsWith(`${b.subject}\u0000`) && o.crashed);
  if (!crashReported && (crashedHere || target.run.replay?.check === 'abuse.crash')) {
    const crash: PropertySpec<Mutation> = {
      ...spec('abuse.crash', 'critical', `${b.subject}: the target stopped answering`, `${healthPath ?? 'the health path'} answers 200 within ${HEALTH_TIMEOUT_MS} ms after every case`, () => undefined),
      async holds(m) {
        const o = await observed(m);
        return o?.crashed;
      },
    };
    if (await checkProperty(target, task, crash)) crashReported = true;
  }
  if (target.run.replay) return;

  // The crash happened outside the generated sequence (while shrinking another property), or later than any case showed.
  const late = down ? undefined : await unhealthy();
  if (late) down = { subject: b.subject, observed: late };
  if (down && !crashReported) {
    crashReported = true;
    target.report(task, {
      check: 'abuse.crash',
      suite: SUITE,
      severity: 'critical',
      title: `${b.subject}: the target stopped answering`,
      subject: b.subject,
      observed: down.observed,
      expected: `${healthPath ?? 'the health path'} answers 200 within ${HEALTH_TIMEOUT_MS} ms after every case`,
    });
  }
  if (down || !b.neighbour) return;
  const impact = await b.neighbour();
  if (impact) {
    target.report(task, {
      check: 'abuse.neighbour-impact',
      suite: SUITE,
      severity: 'medium',
      title: `${b.subject}: a bystander stopped working after the batch`,
      subject: b.subject,
      observed: impact,
      expected: 'a normal send from another principal is still delivered',
    });
  }
}

function skipIfDown(ctx: TestContext): void {
  if (down) ctx.skip(`the target stopped answering during ${down.subject} (${down.observed}); the remaining cases were not run`);
}

const finish = (task: TestContext['task']) => {
  const findings = task.meta.breakwater?.findings ?? [];
  expect(findings, describeFindings(findings)).toEqual([]);
};

// ── realtime ──────────────────────────────────────────────────────────────────

/** One principal with a socket joined to the attacked room, and its local copy of the rate budget. */
interface Member {
  info: PrincipalInfo;
  cred: Credentials;
  socket?: RealtimeSocket;
  tokens: number;
  refilledAt: number;
  coolUntil: number;
}

describe.skipIf(!rt)('realtime payload abuse', () => {
  const realtime = rt!;
  const client = new RealtimeClient({ baseUrl: target.baseUrl, realtime });
  const eventNames = Object.keys(realtime?.events ?? {});
  const rateLimited = (f: unknown) => !!realtime.rateLimitSignal.frame?.(f);
  const rejectFrame = (f: unknown) => !!realtime.rejectSignal.frame?.(f);
  const lacks = (p: PrincipalInfo, scope: string | undefined) => p.kind === 'bot' && !!scope && !p.scopes.includes(scope);
  /** Joins are paced like the strictest event: the limiter counts every frame. */
  const joinLimits = Object.values(realtime?.events ?? {}).reduce((a, e) => ({ ratePerSecond: Math.min(a.ratePerSecond, e.limits.ratePerSecond), burst: Math.min(a.burst, e.limits.burst) }), { ratePerSecond: 10, burst: 20 });

  let room: RealtimeRoom | undefined;
  const members: Member[] = [];
  let neighbour: Member | undefined;
  let peer: Member | undefined;
  let setupError: string | undefined;
  const notes: string[] = [];

  /** Joins the room, waiting out rate-limit signals. */
  async function join(m: Member): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const socket = m.socket!;
      await pace(m, joinLimits);
      const from = socket.frames.length;
      if (!socket.send(realtime.join.frame(room!))) return false;
      const reply = await socket.waitFor((f) => realtime.join.accepted(f, room!) || realtime.join.refused(f, room!) || rateLimited(f), REPLY_TIMEOUT_MS * 2, from);
      if (reply && rateLimited(reply.data)) {
        cool(m);
        continue;
      }
      return !!reply && realtime.join.accepted(reply.data, room!);
    }
    return false;
  }

  /** Opens (or reopens) a member's socket and joins the room. False when that fails. */
  async function connect(m: Member): Promise<boolean> {
    if (m.socket?.open) return true;
    await m.socket?.close();
    const outcome = await client.connect(m.info.name, m.cred);
    if (!outcome.connected) return false;
    m.socket = outcome.socket;
    return join(m);
  }

  /** Waits for the member's local budget (the event's declared limits × PACE), then spends one frame of it. */
  async function pace(m: Member, limits: { ratePerSecond: number; burst: number }): Promise<void> {
    const rate = Math.max(0.5, limits.ratePerSecond * PACE);
    const burst = Math.max(1, Math.floor(limits.burst * PACE));
    const now = Date.now();
    m.tokens = Math.min(burst, m.tokens + ((now - m.refilledAt) / 1000) * rate);
    m.refilledAt = now;
    const wait = Math.max(m.coolUntil - now, m.tokens >= 1 ? 0 : ((1 - m.tokens) / rate) * 1000);
    if (wait > 0) {
      await sleep(wait);
      m.tokens = Math.min(burst, m.tokens + (wait / 1000) * rate);
      m.refilledAt = Date.now();
    }
    m.tokens -= 1;
  }

  function cool(m: Member): void {
    m.tokens = 0;
    m.coolUntil = Date.now() + RATE_LIMIT_BACKOFF_MS;
  }

  /** The sender whose budget allows a frame soonest. */
  function nextSender(senders: Member[], limits: { ratePerSecond: number; burst: number }): Member {
    const now = Date.now();
    const rate = Math.max(0.5, limits.ratePerSecond * PACE);
    const readyAt = (m: Member) => {
      const tokens = m.tokens + ((now - m.refilledAt) / 1000) * rate;
      return Math.max(m.coolUntil, now + (tokens >= 1 ? 0 : ((1 - tokens) / rate) * 1000));
    };
    return senders.reduce((best, m) => (readyAt(m) < readyAt(best) ? m : best));
  }

  beforeAll(async () => {
    const usable = new Map<string, { info: PrincipalInfo; cred: Credentials }>();
    for (const info of target.principals) {
      if (lacks(info, realtime.scope)) continue;
      try {
        const cred = await target.credentials(info.name);
        if (!client.unusable(cred)) usable.set(info.name, { info, cred });
      } catch {
        /* a principal that cannot log in sits out */
      }
    }
    // The room with the most members that can connect: senders, a bystander and a relay addressee.
    const candidates = realtime
      .rooms(target.world)
      .map((r) => ({ r, names: r.members.filter((n) => usable.has(n)) }))
      .sort((a, b) => b.names.length - a.names.length);
    const best = candidates[0];
    if (!best || best.names.length < 2) {
      setupError = `no room has two members that can connect (rooms: ${candidates.map((c) => `${c.r.key}: ${c.names.join(', ') || 'none'}`).join('; ')})`;
      return;
    }
    room = best.r;
    const joined = await Promise.all(
      best.names.map(async (name) => {
        const m: Member = { ...usable.get(name)!, tokens: 1, refilledAt: Date.now(), coolUntil: 0 };
        return (await connect(m)) ? m : undefined;
      }),
    );
    members.push(...joined.filter((m): m is Member => !!m));
    if (members.length < 2) {
      setupError = `fewer than two members of ${room.key} could connect and join (${best.names.join(', ')})`;
      return;
    }
    const params = new Set(Object.values(room.params));
    peer = members.find((m) => m.cred.subjectId !== undefined && params.has(m.cred.subjectId));
    neighbour = [...members].reverse().find((m) => m !== peer) ?? members[members.length - 1];
    // A per-connection budget is spread over more connections of each sender; a per-principal one would gain nothing.
    if (Object.values(realtime.events).every((e) => e.limits.per === 'connection')) {
      const extra = await Promise.all(
        members
          .filter((m) => m !== neighbour)
          .flatMap((m) => Array.from({ length: EXTRA_CONNECTIONS }, () => ({ info: m.info, cred: m.cred, tokens: 1, refilledAt: Date.now(), coolUntil: 0 }) as Member))
          .map(async (m) => ((await connect(m)) ? m : undefined)),
      );
      members.push(...extra.filter((m): m is Member => !!m));
    }
  });

  afterAll(async () => {
    await client.closeAll();
  });

  /** A delivered frame's payload for this event, decoded: text payloads as they are, others from their JSON. */
  function deliveredOf(def: RealtimeEvent, textMode: boolean, frame: ReceivedFrame): { value: unknown; text: string } | undefined {
    let raw: unknown;
    try {
      raw = def.delivered?.(frame.data);
    } catch {
      return undefined;
    }
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string') return { value: raw, text: JSON.stringify(raw) ?? String(raw) };
    if (textMode) return { value: raw, text: raw };
    try {
      return { value: JSON.parse(raw), text: raw };
    } catch {
      return { value: raw, text: raw };
    }
  }

  /** Delivered forms of the bystander's probe payloads, so they are not mistaken for a case's delivery. */
  const probeTexts = new Set<string>();
  const expectedForm = (payload: unknown, textMode: boolean) => (textMode && typeof payload === 'string' ? payload : JSON.stringify(payload));

  test.for(eventNames)('%s: mutated payloads are rejected, the target survives, bystanders keep working', { timeout: TEST_TIMEOUT_MS }, async (eventName, ctx) => {
    const { task } = ctx;
    expect(setupError, setupError).toBeUndefined();
    skipIfDown(ctx);
    const def = realtime.events[eventName]!;
    const theRoom = room!;
    const frameOf = (payload: unknown) => def.frame(theRoom, payload);
    const senders = members.filter((m) => m.info.name !== neighbour!.info.name && !(def.relay && m.info.name === peer?.info.name) && !lacks(m.info, def.scope));
    if (def.relay && !peer) ctx.skip(`relay event: no member of ${theRoom.key} is addressed by the room's params, so the addressee cannot be watched`);
    if (senders.length === 0) ctx.skip(`no member of ${theRoom.key} other than the bystander may send ${eventName}`);
    const witness = def.relay ? peer! : neighbour!;
    const samples = fc.sample(def.arbitrary, { seed: MODEL_SEED, numRuns: 200 });
    const textMode = samples.every((s) => typeof s === 'string');
    const model = new ShapeModel(samples);
    const { maxBytes } = def.limits;
    const opts: MutationOptions = {
      sizes: [maxBytes + 1, 4 * maxBytes, Math.max(FAR_OVER_BYTES, maxBytes + 2)],
      maxArrayLength: Math.floor(maxBytes / 4),
      payloadOnWire: payloadOnWire(frameOf),
      // A valid frame sent as binary is malformed only where the profile says binary frames are refused.
      rawKinds: (realtime.binaryFrames ?? 'reject') === 'reject' ? ['invalid-utf8', 'binary', 'malformed-json', 'truncated'] : ['invalid-utf8', 'malformed-json', 'truncated'],
    };
    const inconclusive: string[] = [];
    // Frames per second the paced senders can spend, about two per case at worst (a rejoin after a close).
    const perSecond = senders.length * Math.max(0.5, def.limits.ratePerSecond * PACE);
    const numRuns = Math.max(1, Math.min(target.run.numRuns, Math.floor(((PROPERTY_BUDGET_MS / 1000) * perSecond) / 2)));
    if (numRuns < target.run.numRuns) notes.push(`${eventName}: ${numRuns} runs per class instead of ${target.run.numRuns}, to fit ${PROPERTY_BUDGET_MS / 1000} s at ${perSecond.toFixed(1)} frames/s`);

    async function observe(cls: MutationClass, m: Mutation): Promise<Observation> {
      const wire = materialize(m, frameOf, def.limits.maxBytesOf);
      if (!wire) return { outcome: 'unsent', detail: 'the valid base alone exceeds the size to test', delivered: [] };
      const expected = wire.payload === undefined && m.cls !== 'missing-field' ? undefined : expectedForm(wire.payload, textMode);
      // RFC 6455 makes the receiver fail a text frame that is not UTF-8 with 1007, whatever the profile declares.
      const closeCodes = [...(realtime.rejectSignal.closeCodes ?? []), ...(m.cls === 'raw-frame' && m.kind === 'invalid-utf8' ? [1007] : [])];
      for (let attempt = 0; attempt < RATE_LIMIT_ATTEMPTS; attempt++) {
        const sender = nextSender(senders, def.limits);
        await pace(sender, def.limits);
        // The witness may be a sender of other events whose socket a size case closed: it must be listening again.
        for (const m of [sender, witness]) {
          if (!(await connect(m))) return afterTrouble({ outcome: 'unsent', detail: `${m.info.name} could not reconnect and rejoin ${theRoom.key}`, delivered: [] });
        }
        const socket = sender.socket!;
        const from = socket.frames.length;
        const witnessFrom = witness.socket?.frames.length ?? 0;
        socket.sendRaw(wire.data, { binary: wire.binary });
        const hit = await settle([socket, witness.socket], REPLY_TIMEOUT_MS, () => {
          const reply = socket.frames.slice(from).find((f) => rateLimited(f.data) || rejectFrame(f.data));
          if (reply) return { reply };
          const got = expected !== undefined && witness.socket?.frames.slice(witnessFrom).find((f) => deliveredOf(def, textMode, f)?.text === expected);
          if (got) return { got };
          if (socket.closeInfo) return { closed: socket.closeInfo };
          return undefined;
        });
        // The bystander's own probes are the only other traffic in the room.
        const delivered = (witness.socket?.frames.slice(witnessFrom) ?? []).flatMap((f) => {
          const d = deliveredOf(def, textMode, f);
          return d && !probeTexts.has(d.text) ? [d.value] : [];
        });
        if (hit?.reply && rateLimited(hit.reply.data)) {
          cool(sender);
          continue;
        }
        if (hit?.closed && hit.closed.code === realtime.rateLimitSignal.closeCode) {
          cool(sender);
          continue;
        }
        if (hit?.reply) return { outcome: 'rejected', detail: `rejected: ${oneLine(hit.reply.text)}`, delivered, expected };
        // A declared close may still be the last thing a dying process did: check it, or the next case takes the blame.
        if (hit?.closed && closeCodes.includes(hit.closed.code)) return afterTrouble({ outcome: 'rejected', detail: `closed with ${hit.closed.code}`, delivered, expected });
        if (hit?.got) return { outcome: 'delivered', detail: `accepted and delivered to ${witness.info.name}: ${oneLine(hit.got.text)}`, delivered, expected };
        if (hit?.closed) return afterTrouble({ outcome: 'closed', detail: `the socket was closed with ${hit.closed.code}${hit.closed.reason ? ` (${oneLine(hit.closed.reason, 80)})` : ''}, not a declared rejection`, delivered, expected });
        return afterTrouble({ outcome: 'silent', detail: `no rejection within ${REPLY_TIMEOUT_MS} ms (accepted, or ignored)`, delivered, expected });
      }
      return { outcome: 'rate-limited', detail: `rate limited ${RATE_LIMIT_ATTEMPTS} times`, delivered: [], expected };
    }

    /** After a close, a silence or a failed reconnect: did the target die? */
    async function afterTrouble(o: Observation): Promise<Observation> {
      const health = await unhealthy();
      return health ? { ...o, crashed: `${health} after ${o.detail}` } : o;
    }

    /**
     * Size over maxBytes and malformed raw frames are invalid by the profile's
     * own declaration: they must meet the declared rejection. Shape mutations
     * may still be valid (an optional key dropped, a key added to an open
     * dictionary) and the profile declares no schema, so they fail only when
     * something that no valid sample looks like is accepted and delivered.
     */
    function guard(cls: MutationClass, o: Observation): string | undefined {
      if (o.outcome === 'unsent' || o.outcome === 'rate-limited') {
        inconclusive.push(`${cls}: ${o.detail}`);
        return undefined;
      }
      if (cls === 'size' || cls === 'raw-frame') return o.outcome === 'rejected' ? undefined : o.detail;
      const bad = o.delivered.find((v) => !model.validShaped(v));
      return bad === undefined ? undefined : `a malformed payload was accepted and delivered to ${witness.info.name}: ${oneLine(JSON.stringify(bad) ?? 'undefined')}`;
    }

    /** The case is malformed (over the size, or shaped like no valid payload) and the addressee got it, in the case's window or later. */
    function leak(cls: MutationClass, m: Mutation, o: Observation): string | undefined {
      const wire = cls === 'size' ? undefined : materialize(m, frameOf);
      if (cls !== 'size' && model.validShaped(wire?.payload)) return undefined;
      const inWindow = o.delivered.find((v) => cls === 'size' || !model.validShaped(v));
      if (inWindow !== undefined) return `${witness.info.name} received it: ${oneLine(JSON.stringify(inWindow) ?? '')}`;
      const late = o.expected !== undefined && witness.socket?.frames.find((f) => deliveredOf(def, textMode, f)?.text === o.expected);
      return late ? `${witness.info.name} received it after the reply: ${oneLine(late.text)}` : undefined;
    }

    // A bystander whose normal send fails before any abuse tells nothing about the abuse.
    const probe = neighbourProbe(eventName);
    const baseline = probe ? await probe() : 'the profile has no event with `delivered` the bystander may send';
    if (baseline) notes.push(`neighbour check off for ${eventName}: ${baseline}`);

    for (const cls of CLASSES) {
      if (down) break;
      const arbitrary = mutationArbitrary(cls, def.arbitrary as fc.Arbitrary<unknown>, opts, samples);
      if (!arbitrary) {
        notes.push(`${eventName} ${cls}: not applicable (${opts.payloadOnWire ? 'no site for it in the payloads' : 'the frame carries no payload'})`);
        continue;
      }
      await runBatch(task, {
        subject: `${eventName} ${cls}`,
        cls,
        arbitrary,
        numRuns,
        observe: (m) => observe(cls, m),
        guard: (_m, o) => guard(cls, o),
        guardExpected:
          cls === 'size' || cls === 'raw-frame'
            ? `the declared rejection (a reject frame, or a close with ${(realtime.rejectSignal.closeCodes ?? []).join('/') || 'a declared code'})`
            : 'rejected, or accepted with a payload shaped like a valid one',
        leak: def.relay && cls !== 'raw-frame' ? (m, o) => leak(cls, m, o) : undefined,
        neighbour: baseline ? undefined : probe,
      });
    }
    if (inconclusive.length) notes.push(`${eventName}: ${inconclusive.length} inconclusive case(s), e.g. ${inconclusive[0]}`);
    if (notes.length) await ctx.annotate(notes.splice(0).join('\n'));
    finish(task);
  });

  /**
   * The bystander's normal send: a valid payload of a broadcast event with
   * `delivered` (else of a relay event, to the addressee), which another
   * member must receive. Undefined when the profile offers no such event.
   */
  function neighbourProbe(current: string): (() => Promise<string | undefined>) | undefined {
    const entries = Object.entries(realtime.events).filter(([, d]) => d.delivered && !lacks(neighbour!.info, d.scope));
    const broadcast = entries.find(([n, d]) => n === current && !d.relay) ?? entries.find(([, d]) => !d.relay);
    const relay = entries.find(([, d]) => d.relay && peer && peer !== neighbour);
    const chosen = broadcast ?? relay;
    if (!chosen || !neighbour) return undefined;
    const [name, def] = chosen;
    const textMode = fc.sample(def.arbitrary, { seed: MODEL_SEED, numRuns: 20 }).every((s) => typeof s === 'string');
    let turn = 0;
    return async () => {
      const bystander = neighbour!;
      const watcher = def.relay ? peer! : (members.find((m) => m !== bystander && m.socket?.open) ?? bystander);
      for (let attempt = 0; attempt < 3; attempt++) {
        const [payload] = fc.sample(def.arbitrary, { seed: target.run.fcSeed + 7919 * ++turn, numRuns: 1 });
        await pace(bystander, def.limits);
        if (!(await connect(bystander))) return `${bystander.info.name} could not reconnect and rejoin ${room!.key}`;
        if (!(await connect(watcher))) return `${watcher.info.name} could not reconnect and rejoin ${room!.key}`;
        const socket = bystander.socket!;
        const from = socket.frames.length;
        const watchFrom = watcher.socket!.frames.length;
        const expected = expectedForm(payload, textMode);
        if (expected !== undefined) probeTexts.add(expected);
        socket.send(def.frame(room!, payload));
        const hit = await settle([socket, watcher.socket], NEIGHBOUR_TIMEOUT_MS, () => {
          const got = watcher.socket!.frames.slice(watchFrom).find((f) => deliveredOf(def, textMode, f)?.text === expected);
          if (got) return { got };
          const reply = socket.frames.slice(from).find((f) => rateLimited(f.data) || rejectFrame(f.data));
          return reply ? { reply } : undefined;
        });
        if (hit?.got) return undefined;
        if (hit?.reply && rateLimited(hit.reply.data)) {
          cool(bystander);
          await sleep(RATE_LIMIT_BACKOFF_MS);
          continue;
        }
        return `${bystander.info.name}'s ${name} was not delivered to ${watcher.info.name} within ${NEIGHBOUR_TIMEOUT_MS} ms${hit?.reply ? ` (rejected: ${oneLine(hit.reply.text)})` : ''}`;
      }
      // Rate limited every time (another suite may spend the same budget): inconclusive, not an impact.
      notes.push(`neighbour check inconclusive after ${current}: ${bystander.info.name}'s ${name} was rate limited 3 times`);
      return undefined;
    };
  }
});

/** Resolves with `check()`'s first non-undefined value, re-evaluated on every frame or close of the sockets; undefined after `timeoutMs`. */
function settle<T>(sockets: Array<RealtimeSocket | undefined>, timeoutMs: number, check: () => T | undefined): Promise<T | undefined> {
  const now = check();
  if (now !== undefined) return Promise.resolve(now);
  return new Promise((resolve) => {
    const offs: Array<() => void> = [];
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const done = (v: T | undefined) => {
      clearTimeout(timer);
      for (const off of offs) off();
      resolve(v);
    };
    for (const s of sockets) {
      if (!s) continue;
      offs.push(
        s.onChange(() => {
          const v = check();
          if (v !== undefined) done(v);
        }),
      );
    }
  });
}

// ── resource routes with a JSON body ──────────────────────────────────────────

interface JsonRoute {
  name: string;
  resource: string;
  op: string;
  route: RouteDefinition;
}

const jsonRoutes: JsonRoute[] = Object.entries(profile.resources).flatMap(([resource, def]) =>
  Object.entries(def.operations).flatMap(([op, route]): JsonRoute[] =>
    // Destructive operations change state other suites rely on (a role, a deleted instance): not attacked here.
    route?.body && (!route.contentType || route.contentType === 'application/json') && !def.destructive?.includes(op) ? [{ name: `${route.method} ${route.path}`, resource, op, route }] : [],
  ),
);

describe.skipIf(jsonRoutes.length === 0)('route payload abuse', () => {
  test.for(jsonRoutes.map((r) => [r.name, r] as const))('%s: mutated JSON bodies never get a 5xx, malformed JSON is refused, the target survives', { timeout: TEST_TIMEOUT_MS }, async ([name, r], ctx) => {
    const { task } = ctx;
    skipIfDown(ctx);
    const def = profile.resources[r.resource]!;
    const instance = await target.createInstance(r.resource);
    const allowed = (p: PrincipalInfo, op: string) => def.policy(p, op, instance, target.world) === 'allow';
    const attacker = target.principals.find((p) => p.name === instance.owner && allowed(p, r.op)) ?? target.principals.find((p) => allowed(p, r.op));
    if (!attacker) ctx.skip(`no principal may ${r.op} ${r.resource}`);
    const base = r.route.body!({ world: target.world, params: instance.params, runId: target.run.runId });
    const path = fillPath(r.route.path, instance.params);
    const notes: string[] = [];

    async function send(wire: Wire, as: string, method = r.route.method, at = path): Promise<{ status?: number; error?: string; text: string }> {
      const headers = { ...authHeaders(await target.credentials(as)), 'content-type': 'application/json' };
      try {
        // A fresh connection per case (`reset`): a server that answers an oversized body early and hangs up must not poison the pool the bystander uses.
        const res = await httpRequest(target.baseUrl + at, { method, headers, body: wire.data, reset: true, headersTimeout: HTTP_TIMEOUT_MS, bodyTimeout: HTTP_TIMEOUT_MS });
        const text = await res.body.text();
        return { status: res.statusCode, text };
      } catch (err) {
        return { error: oneLine((err as Error).message, 120), text: '' };
      }
    }

    async function observe(m: Mutation): Promise<Observation> {
      const wire = materialize(m, (p) => p);
      if (!wire) return { outcome: 'unsent', detail: 'the valid base alone exceeds the size to test', delivered: [] };
      const res = await send(wire, attacker!.name);
      const detail = res.error ? `the request failed: ${res.error}` : `answered ${res.status}: ${oneLine(target.redactor.redact(res.text), 120)}`;
      const o: Observation = { outcome: res.error ? 'closed' : 'answered', detail, delivered: [], status: res.status };
      if (!res.error && res.status! < 500) return o;
      const health = await unhealthy();
      return health ? { ...o, crashed: `${health} after ${detail}` } : o;
    }

    /**
     * Routes declare no schema and no size limit, so a mutated body may be
     * accepted; it must never cost a 5xx or a dropped connection. Malformed
     * and truncated JSON cannot be valid: they must get a 4xx. (An HTTP JSON
     * parser may decode invalid UTF-8 to U+FFFD, so that kind only must not 5xx.)
     */
    function guard(m: Mutation, o: Observation): string | undefined {
      if (o.outcome === 'unsent') return undefined;
      // Answering an oversized body early (413) and hanging up mid-upload is a refusal; the client sees only the hang-up.
      if (m.cls === 'size' && o.outcome === 'closed') return undefined;
      if (o.status === undefined || o.status >= 500) return o.detail;
      if (m.cls === 'raw-frame' && (m.kind === 'malformed-json' || m.kind === 'truncated') && (o.status < 400 || o.status >= 500)) return `malformed JSON ${o.detail}`;
      return undefined;
    }

    // The bystander: another principal (the attacker if alone) reads the resource.
    const readOp = (['read', 'list'] as const).find((op) => def.operations[op] && target.principals.some((p) => allowed(p, op)));
    const reader = readOp ? (target.principals.find((p) => p.name !== attacker!.name && allowed(p, readOp)) ?? attacker!) : undefined;
    const neighbour = readOp
      ? async () => {
          const route = def.operations[readOp]!;
          try {
            const ex = await target.request(reader!.name, { method: route.method, path: fillPath(route.path, instance.params) });
            return ex.status >= 200 && ex.status < 300 ? undefined : `${reader!.name}'s ${route.method} ${route.path} answered ${ex.status}`;
          } catch (err) {
            return `${reader!.name}'s ${route.method} ${route.path} failed: ${oneLine((err as Error).message, 120)}`;
          }
        }
      : undefined;
    const baseline = neighbour ? await neighbour() : `no principal may read or list ${r.resource}`;
    if (baseline) notes.push(`neighbour check off: ${baseline}`);

    const opts: MutationOptions = { sizes: [FAR_OVER_BYTES], maxArrayLength: HTTP_MAX_ARRAY, payloadOnWire: true, rawKinds: ['invalid-utf8', 'malformed-json', 'truncated'] };
    for (const cls of CLASSES) {
      if (down) break;
      const arbitrary = mutationArbitrary(cls, fc.constant(base), opts, [base]);
      if (!arbitrary) {
        notes.push(`${cls}: not applicable to this body`);
        continue;
      }
      await runBatch(task, {
        subject: `${name} ${cls}`,
        cls,
        arbitrary,
        observe,
        guard,
        guardExpected: cls === 'raw-frame' ? 'a 4xx for malformed or truncated JSON, never a 5xx' : 'a 2xx or a 4xx, never a 5xx or a dropped connection',
        neighbour: baseline ? undefined : neighbour,
      });
    }
    if (notes.length) await ctx.annotate(notes.join('\n'));
    finish(task);
  });
});
