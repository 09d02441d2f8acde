import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { describeFindings, useTarget, type Credentials, type PrincipalInfo, type RealtimeEvent, type RealtimeRoom } from '../../harness/index.ts';
import { RealtimeClient, waitForAny, type ReceivedFrame, type RealtimeSocket } from '../../harness/suite/realtime-client.ts';
import { stringLeaves, valueAt as at, type Path } from '../../harness/suite/json-path.ts';

/**
 * Realtime isolation, generated from the profile's `realtime` section: who may
 * join which room, who receives a room's events (canaries), whether a revoked
 * member stops receiving them, and whether bots are held to their scopes.
 */
const target = await useTarget();
const realtime = target.profile.realtime;
const SUITE = 'isolation/realtime';

/** Bound on one join or one send's reply. */
const REPLY_TIMEOUT_MS = 2_000;
/** How long a legitimate member may take to receive a canary. */
const DELIVERY_TIMEOUT_MS = 2_000;
/** Quiet time after the last send before counting who received what. */
const SETTLE_MS = 600;
/** A socket that the server closes within this time counts as refused. */
const IMMEDIATE_CLOSE_MS = 300;
/** Time given to a revocation to reach the open socket. */
const REVOKE_SETTLE_MS = 300;
const RATE_LIMIT_RETRIES = 2;
const RATE_LIMIT_BACKOFF_MS = 1_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const excerptOf = (frame: ReceivedFrame | undefined) => (frame ? frame.text.slice(0, 500) : undefined);

type JoinOutcome = { outcome: 'accepted' | 'refused' | 'closed' | 'silent'; reply?: ReceivedFrame };

/** One principal in the suite: its credentials, why it sits out (if it does), its socket and its joins. */
interface Peer {
  info: PrincipalInfo;
  cred?: Credentials;
  /** Why it sits out by design (no usable credentials, no connect scope). */
  skip?: string;
  /** Why a principal that should connect did not. */
  connectError?: string;
  socket?: RealtimeSocket;
  joins: Map<string, JoinOutcome>;
}

/** A unique payload sent through one event into one room, and how to recognise it on delivery. */
interface Canary {
  room: RealtimeRoom;
  event: string;
  def: RealtimeEvent;
  payload: unknown;
  /** Unique text inside the payload, or undefined when it is matched by its JSON. */
  token?: string;
  json: string;
  sender: string;
}

describe.skipIf(!realtime)('realtime isolation', () => {
  const rt = realtime!;
  const client = new RealtimeClient({ baseUrl: target.baseUrl, realtime: rt });
  const rooms = rt ? rt.rooms(target.world) : [];
  const peers = new Map<string, Peer>(target.principals.map((info) => [info.name, { info, joins: new Map() }]));
  const lacksConnectScope = (p: PrincipalInfo) => p.kind === 'bot' && !!rt.scope && !p.scopes.includes(rt.scope);
  const rateLimited = (f: unknown) => !!rt.rateLimitSignal.frame?.(f);
  const rejected = (f: unknown) => !!rt.rejectSignal.frame?.(f);

  /** Joins one room, waiting for accepted/refused; retries after a rate-limit signal. Joins on one socket must not overlap. */
  async function join(socket: RealtimeSocket, room: RealtimeRoom): Promise<JoinOutcome> {
    for (let attempt = 0; attempt <= RATE_LIMIT_RETRIES; attempt++) {
      const from = socket.frames.length;
      if (!socket.send(rt.join.frame(room))) return { outcome: 'closed' };
      const reply = await socket.waitFor((f) => rt.join.accepted(f, room) || rt.join.refused(f, room) || rateLimited(f), REPLY_TIMEOUT_MS, from);
      if (!reply) return { outcome: socket.closeInfo ? 'closed' : 'silent' };
      if (rateLimited(reply.data)) {
        await sleep(RATE_LIMIT_BACKOFF_MS);
        continue;
      }
      return { outcome: rt.join.accepted(reply.data, room) ? 'accepted' : 'refused', reply };
    }
    return { outcome: 'silent' };
  }

  /** Logs in, connects and joins every room (sequentially on each socket, sockets in parallel). */
  async function openPeer(peer: Peer): Promise<void> {
    const { name } = peer.info;
    try {
      peer.cred = await target.credentials(name);
    } catch (err) {
      peer.skip = `login failed: ${target.redactor.redact((err as Error).message)}`;
      return;
    }
    const unusable = client.unusable(peer.cred);
    if (unusable) {
      peer.skip = `no socket credentials: ${unusable}`;
      return;
    }
    if (lacksConnectScope(peer.info)) {
      peer.skip = `bot without the '${rt.scope}' scope may not connect; authz.bot-scope checks that`;
      return;
    }
    const connected = await client.connect(name, peer.cred);
    if (!connected.connected) {
      peer.connectError = connected.reason;
      return;
    }
    peer.socket = connected.socket;
    for (const room of rooms) peer.joins.set(room.key, await join(connected.socket, room));
  }

  beforeAll(async () => {
    await Promise.all([...peers.values()].map(openPeer));
  });

  afterAll(async () => {
    await client.closeAll();
  });

  /** Sockets of principals whose join of `room` was accepted. */
  const joinedTo = (room: RealtimeRoom) => [...peers.values()].filter((p) => p.socket && p.joins.get(room.key)?.outcome === 'accepted');

  /** The member a relay event in `room` is addressed to: the one whose subject id is one of the room's params. */
  function relayPeer(room: RealtimeRoom): string | undefined {
    const ids = new Set(Object.values(room.params));
    return room.members.find((m) => {
      const id = peers.get(m)?.cred?.subjectId;
      return id !== undefined && ids.has(id);
    });
  }

  /** Who may receive a canary sent with `event` into `room`. */
  function legitimateReceivers(room: RealtimeRoom, def: RealtimeEvent): string[] {
    const peer = def.relay ? relayPeer(room) : undefined;
    return peer ? [peer] : room.members;
  }

  test.for(target.principals.map((p) => p.name))('%s opens a socket', (name, ctx) => {
    const peer = peers.get(name)!;
    const inRooms = rooms.filter((r) => r.members.includes(name)).map((r) => r.key);
    if (peer.skip) ctx.skip(`${name} skipped: ${peer.skip}`);
    if (inRooms.length === 0 && peer.connectError) ctx.skip(`${name} is in no room and could not connect: ${peer.connectError}`);
    expect(peer.socket, `${name} is a member of ${inRooms.join(', ')} but could not connect: ${peer.connectError}`).toBeDefined();
  });

  test('isolation.realtime-join: a join is accepted iff the principal is a room member', ({ task }) => {
    const brokenMembers: string[] = [];
    for (const peer of peers.values()) {
      if (!peer.socket) continue;
      const { name } = peer.info;
      for (const room of rooms) {
        const { outcome, reply } = peer.joins.get(room.key)!;
        const member = room.members.includes(name);
        if (member && outcome !== 'accepted') brokenMembers.push(`${name} -> ${room.key}: ${outcome}${reply ? ` (${reply.text.slice(0, 200)})` : ''}`);
        if (!member && outcome === 'accepted') {
          target.report(task, {
            check: 'isolation.realtime-join',
            suite: SUITE,
            severity: 'high',
            title: `${name} joined realtime room ${room.key} without being a member`,
            subject: `${room.key} join by ${name}`,
            observed: 'join accepted',
            expected: `refused or closed (members: ${room.members.join(', ')})`,
            excerpt: `> ${JSON.stringify(rt.join.frame(room))}\n< ${excerptOf(reply)}`,
          });
        }
      }
    }
    expect(brokenMembers, `room members could not join (profile or target broken):\n${brokenMembers.join('\n')}`).toEqual([]);
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  test('isolation.realtime: room events reach only the room members', async (ctx) => {
    const { task } = ctx;
    const canaries: Canary[] = [];
    const undelivered: string[] = [];
    const untested: string[] = [];
    let turn = 0;
    for (const room of rooms) {
      const joined = joinedTo(room).filter((p) => room.members.includes(p.info.name));
      const skippedMembers = room.members.filter((m) => peers.get(m)?.skip);
      if (joined.length === 0 && skippedMembers.length === room.members.length) {
        untested.push(`${room.key}: every member sits out (${skippedMembers.map((m) => `${m}: ${peers.get(m)!.skip}`).join('; ')})`);
        continue;
      }
      for (const [eventName, def] of Object.entries(rt.events)) {
        if (!def.delivered) continue;
        const legit = legitimateReceivers(room, def);
        // Relay senders are not the addressee; rotate senders so no principal spends its whole rate budget.
        const senders = joined.filter((p) => !(def.relay && legit.length === 1 && legit[0] === p.info.name));
        const sender = senders[turn++ % Math.max(senders.length, 1)];
        expect(sender, `no member of ${room.key} could join, so nobody can send ${eventName} into it`).toBeDefined();
        const receivers = [...peers.values()].filter((p) => p.socket && legit.includes(p.info.name) && p !== sender && (def.relay || joined.includes(p)));
        const witnesses = receivers.length > 0 ? receivers : [sender!];
        const sent = await sendCanary(sender!, room, eventName, def, witnesses.map((p) => p.socket!));
        canaries.push(sent.canary);
        if (!sent.delivered) undelivered.push(`${eventName} in ${room.key} from ${sender!.info.name} reached none of ${witnesses.map((p) => p.info.name).join(', ')}${sent.note ? ` (${sent.note})` : ''}`);
      }
    }
    await sleep(SETTLE_MS);

    for (const c of canaries) {
      const legit = legitimateReceivers(c.room, c.def);
      for (const peer of peers.values()) {
        const { name } = peer.info;
        if (!peer.socket || name === c.sender || legit.includes(name)) continue;
        const got = peer.socket.frames.find((f) => receivedCanary(c, f));
        if (!got) continue;
        target.report(task, {
          check: 'isolation.realtime',
          suite: SUITE,
          severity: 'critical',
          title: `${name} received a ${c.event} event of room ${c.room.key}`,
          subject: `${c.room.key} ${c.event} -> ${name}`,
          observed: `${name} received the canary sent by ${c.sender}${peer.joins.get(c.room.key)?.outcome === 'accepted' ? ' (its join had been accepted)' : ' (its join had not been accepted)'}`,
          expected: c.def.relay ? `only ${legit.join(', ')} (relay addressee)` : `only room members (${c.room.members.join(', ')})`,
          excerpt: excerptOf(got),
        });
      }
    }
    if (untested.length > 0) await ctx.annotate(`rooms not tested:\n${untested.join('\n')}`);
    // Without a delivery to a legitimate member the check above proves nothing.
    expect(undelivered, `canaries were not delivered to any legitimate member (profile or target broken):\n${undelivered.join('\n')}`).toEqual([]);
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  test('isolation.realtime-revocation: a revoked member stops receiving room events', async (ctx) => {
    const { task } = ctx;
    if (!rt.revocable) ctx.skip('the profile declares no realtime.revocable');
    const entry = Object.entries(rt.events).find(([, def]) => def.delivered && !def.relay);
    if (!entry) ctx.skip('the profile declares no broadcast event with `delivered`, so delivery cannot be observed');
    const [eventName, def] = entry!;

    const rev = await rt.revocable!({ baseUrl: target.baseUrl, world: target.world, runId: target.run.runId, as: target.credentials });
    const { room, member } = rev;
    const senderName = room.members.find((m) => m !== member && peers.get(m)?.cred && !peers.get(m)?.skip);
    expect(senderName, `revocable room ${room.key} has no other member that can connect to send from`).toBeDefined();

    const open = async (name: string) => {
      const cred = await target.credentials(name);
      const outcome = await client.connect(name, cred);
      expect(outcome.connected, `${name} could not connect: ${outcome.connected ? '' : outcome.reason}`).toBe(true);
      const socket = (outcome as { socket: RealtimeSocket }).socket;
      const joined = await join(socket, room);
      expect(joined.outcome, `${name} could not join revocable room ${room.key}: ${excerptOf(joined.reply) ?? ''}`).toBe('accepted');
      return socket;
    };
    const memberSocket = await open(member);
    const senderSocket = await open(senderName!);
    const sender: Peer = { info: peers.get(senderName!)!.info, socket: senderSocket, joins: new Map() };

    try {
      const before = await sendCanary(sender, room, eventName, def, [memberSocket]);
      expect(before.delivered, `${member} did not receive a ${eventName} canary before revocation${before.note ? ` (${before.note})` : ''}`).toBe(true);

      await rev.revoke();
      await sleep(REVOKE_SETTLE_MS);
      const from = memberSocket.frames.length;
      const after = await sendCanary(sender, room, eventName, def, [senderSocket], 'after-revoke');
      await sleep(SETTLE_MS);
      const leaked = memberSocket.frames.slice(from).find((f) => receivedCanary(after.canary, f));
      if (leaked) {
        target.report(task, {
          check: 'isolation.realtime-revocation',
          suite: SUITE,
          severity: 'critical',
          title: `${member} kept receiving ${room.key} events after its membership was revoked`,
          subject: `${room.key} ${eventName}: revoked ${member}`,
          observed: `the socket opened before revocation received a ${eventName} canary sent ${REVOKE_SETTLE_MS} ms after it`,
          expected: 'no events of the room after revocation',
          excerpt: excerptOf(leaked),
        });
      }
      // The sender's own copy shows the second canary was really sent and fanned out.
      expect(after.delivered || !!leaked, `the ${eventName} canary after revocation reached nobody, not even ${senderName} (cannot tell whether revocation held)`).toBe(true);
    } finally {
      await Promise.all([memberSocket.close(), senderSocket.close()]);
    }
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  test('authz.bot-scope: bots connect and send only with the scopes they hold', async (ctx) => {
    const { task } = ctx;
    const bots = target.principals.filter((p) => p.kind === 'bot');
    if (bots.length === 0) ctx.skip('the profile has no bot principals');
    const failures: string[] = [];
    const notes: string[] = [];

    for (const bot of bots) {
      const cred = await target.credentials(bot.name);
      const unusable = client.unusable(cred);
      if (unusable) {
        notes.push(`${bot.name} skipped: ${unusable}`);
        continue;
      }
      const mustBeRefused = lacksConnectScope(bot);
      const outcome = await client.connect(bot.name, cred);
      let socket = outcome.connected ? outcome.socket : undefined;
      if (socket && mustBeRefused && (await socket.waitClosed(IMMEDIATE_CLOSE_MS))) socket = undefined;
      if (socket && mustBeRefused) {
        target.report(task, {
          check: 'authz.bot-scope',
          suite: SUITE,
          severity: 'high',
          title: `bot ${bot.name} opened a realtime socket without the '${rt.scope}' scope`,
          subject: `${bot.name} connect ${rt.path}`,
          observed: 'upgrade accepted and the socket stayed open',
          expected: `HTTP 401/403 on the upgrade or an immediate close (scopes: ${bot.scopes.join(', ') || 'none'})`,
        });
      }
      if (!socket) {
        if (!mustBeRefused) failures.push(`${bot.name} holds '${rt.scope ?? '(no scope needed)'}' but could not connect: ${outcome.connected ? 'closed at once' : outcome.reason}`);
        continue;
      }

      const room = rooms.find((r) => r.tenant === bot.tenant && r.members.includes(bot.name)) ?? rooms.find((r) => r.tenant === bot.tenant);
      if (!room) {
        notes.push(`${bot.name}: no room of tenant ${bot.tenant} to send into`);
        continue;
      }
      await join(socket, room);
      const self: Peer = { info: bot, socket, joins: new Map() };
      const listeners = [socket, ...joinedTo(room).map((p) => p.socket!)];
      const sent: Canary[] = [];
      for (const [eventName, def] of Object.entries(rt.events)) {
        if (!def.scope || bot.scopes.includes(def.scope)) continue;
        if (!def.delivered) {
          notes.push(`${eventName}: no \`delivered\` in the profile, so a scope-less send cannot be observed`);
          continue;
        }
        sent.push((await sendCanary(self, room, eventName, def, [], 'bot-scope')).canary);
      }
      await sleep(SETTLE_MS);
      for (const c of sent) {
        const receivers = listeners.filter((s) => s.frames.some((f) => receivedCanary(c, f)));
        if (receivers.length === 0) continue;
        const first = receivers[0]!.frames.find((f) => receivedCanary(c, f));
        target.report(task, {
          check: 'authz.bot-scope',
          suite: SUITE,
          severity: 'high',
          title: `bot ${bot.name} sent ${c.event} without the '${c.def.scope}' scope`,
          subject: `${bot.name} ${c.event} in ${room.key}`,
          observed: `delivered to ${receivers.map((s) => s.principal).join(', ')}`,
          expected: `refused: ${bot.name} lacks '${c.def.scope}' (scopes: ${bot.scopes.join(', ') || 'none'})`,
          excerpt: excerptOf(first),
        });
      }
      await socket.close();
    }
    if (notes.length > 0) await ctx.annotate(notes.join('\n'));
    expect(failures, failures.join('\n')).toEqual([]);
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });

  /**
   * Sends a fresh canary and waits until one of `witnesses` receives it (none:
   * no wait). An embedded canary the target rejects as invalid is retried as
   * the plain sample, matched by its JSON; a rate-limit signal is waited out.
   */
  async function sendCanary(
    sender: Peer,
    room: RealtimeRoom,
    event: string,
    def: RealtimeEvent,
    witnesses: RealtimeSocket[],
    purpose = 'delivery',
  ): Promise<{ canary: Canary; delivered: boolean; note?: string }> {
    const socket = sender.socket!;
    let embed = true;
    let note: string | undefined;
    let canary = makeCanary(room, event, def, sender.info.name, purpose, embed);
    for (let attempt = 0; attempt <= RATE_LIMIT_RETRIES + 1; attempt++) {
      const from = socket.frames.length;
      const witnessFrom = witnesses.map((w) => w.frames.length);
      if (!socket.send(def.frame(room, canary.payload))) return { canary, delivered: false, note: `${sender.info.name}'s socket is closed` };
      if (witnesses.length === 0) return { canary, delivered: false };
      const hit = await waitForAny(
        [
          ...witnesses.map((w, i) => ({ socket: w, from: witnessFrom[i], predicate: (_: unknown, f: ReceivedFrame) => receivedCanary(canary, f) })),
          { socket, from, predicate: (f: unknown) => rateLimited(f) || rejected(f) },
        ],
        DELIVERY_TIMEOUT_MS,
      );
      if (!hit) return { canary, delivered: false, note };
      if (hit.socket !== socket || receivedCanary(canary, hit.frame)) return { canary, delivered: true };
      if (rateLimited(hit.frame.data)) {
        await sleep(RATE_LIMIT_BACKOFF_MS);
        continue;
      }
      note = `rejected: ${hit.frame.text.slice(0, 200)}`;
      if (!embed || canary.token === undefined) return { canary, delivered: false, note };
      embed = false;
      canary = makeCanary(room, event, def, sender.info.name, purpose, embed);
    }
    return { canary, delivered: false, note: note ?? 'rate limited' };
  }
});

// ── canaries ──────────────────────────────────────────────────────────────────

const usedJson = new Set<string>();

/** A seed for one (room, event, purpose), fixed by the run's fast-check seed. */
function seedFor(...parts: string[]): number {
  let h = target.run.fcSeed | 0;
  for (const ch of parts.join('\u0000')) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
}

/**
 * A payload from the event's arbitrary, made unique: a string payload becomes
 * a canary string; an object gets a canary token in its most varied string
 * field, within the lengths the arbitrary produces. Without such a field (or
 * with `embed` false) the sample itself is the canary, matched by its JSON.
 */
function makeCanary(room: RealtimeRoom, event: string, def: RealtimeEvent, sender: string, purpose: string, embed: boolean): Canary {
  const samples = fc.sample(def.arbitrary, { seed: seedFor(room.key, event, purpose), numRuns: 50 });
  const nonce = randomBytes(5).toString('hex');
  const base = samples[0];
  const done = (payload: unknown, token?: string): Canary => {
    const json = JSON.stringify(payload) ?? 'undefined';
    usedJson.add(json);
    return { room, event, def, payload, token, json, sender };
  };

  if (embed && typeof base === 'string') {
    const maxLen = Math.max(...samples.map((s) => (typeof s === 'string' ? s.length : 0)));
    const long = `bw-canary-${room.key}-${event}-${nonce}`;
    const token = long.length <= maxLen ? long : `bw-${nonce}`;
    return done(token, token);
  }
  if (embed && base !== null && typeof base === 'object') {
    const token = `bw-${nonce}`;
    const field = variedStringField(base, samples, token.length);
    if (field) {
      const payload = structuredClone(base) as Record<string, unknown>;
      const { parent, key } = locate(payload, field.path);
      const original = parent[key] as string;
      parent[key] = original.slice(0, Math.max(0, field.maxLen - token.length)) + token;
      return done(payload, token);
    }
  }
  const fresh = samples.find((s) => !usedJson.has(JSON.stringify(s) ?? 'undefined')) ?? base;
  return done(fresh);
}

function locate(root: Record<string, unknown>, path: Path): { parent: Record<string | number, unknown>; key: string | number } {
  return { parent: at(root, path.slice(0, -1)) as Record<string | number, unknown>, key: path[path.length - 1]! };
}

/**
 * The string field of `base` whose values vary most across samples (an enum
 * such as a `kind` varies little), among those long enough to hold the token.
 */
function variedStringField(base: unknown, samples: unknown[], tokenLength: number): { path: Path; maxLen: number } | undefined {
  let best: { path: Path; maxLen: number; distinct: number } | undefined;
  for (const leaf of stringLeaves(base)) {
    if (leaf.path.length === 0) continue;
    const values = samples.map((s) => at(s, leaf.path)).filter((v): v is string => typeof v === 'string');
    const maxLen = Math.max(...values.map((v) => v.length));
    const distinct = new Set(values).size;
    if (maxLen < tokenLength || distinct < 3) continue;
    if (!best || distinct > best.distinct || (distinct === best.distinct && maxLen > best.maxLen)) best = { path: leaf.path, maxLen, distinct };
  }
  return best;
}

const isPrimitive = (v: unknown) => v === null || (typeof v !== 'object' && typeof v !== 'function');

/** Whether a received frame carries the canary: by the profile's `delivered`, or by the token anywhere in its text. */
function receivedCanary(c: Canary, frame: ReceivedFrame): boolean {
  let delivered: string | undefined;
  try {
    delivered = c.def.delivered?.(frame.data);
  } catch {
    delivered = undefined;
  }
  if (delivered !== undefined) {
    if (c.token !== undefined ? delivered.includes(c.token) : delivered === c.json || (isPrimitive(c.payload) && delivered === String(c.payload))) return true;
  }
  return c.token !== undefined && frame.text.includes(c.token);
}
