import { setMaxListeners } from 'node:events';
import { Agent, request } from 'undici';
import type { Credentials, IntegrityChannel, IntegrityDefinition, TargetProfile } from '../config/target.ts';
import { BreakwaterError } from '../errors.ts';
import { authHeaders, fillPath } from '../suite/http-auth.ts';
import { makeMarker, markerPrefix } from './markers.ts';
import type { WriteLog, WriteOutcome, WriteRecord } from './write-log.ts';
import { WriterSocket } from './writer-socket.ts';

export interface WritersOptions {
  profile: TargetProfile;
  world: unknown;
  baseUrl: string;
  /** Part of every marker, so a run's writes can be recognised in stored data. */
  runId: string;
  /** Credentials of a principal (the profile principal's login). */
  login(principal: string): Promise<Credentials>;
  /** Total writes per second over all writers (default 20). */
  ratePerSecond?: number;
  /** Default: every transport the profile's `integrity` declares. */
  via?: Array<'http' | 'ws'>;
  /** A write attempt with no answer in time is indeterminate (default 5000). */
  writeTimeoutMs?: number;
  /** Retries of an indeterminate or 5xx attempt, with the same idempotency key, 250 ms apart (default 2). */
  retries?: number;
  /** Aborting stops new writes, like the start of `stop()`; `stop()` still returns the log. */
  signal?: AbortSignal;
  /** Writers stop sending on their own after this long (default 1 h). */
  maxDurationMs?: number;
  /** Writers stop sending on their own after this many writes (default 1,000,000). */
  maxWrites?: number;
}

const DEFAULT_RATE = 20;
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_RETRIES = 2;
const RETRY_BACKOFF_MS = 250;
const DEFAULT_MAX_DURATION_MS = 3_600_000;
const DEFAULT_MAX_WRITES = 1_000_000;
/** Writes in flight at once over all writers; a tick beyond it is skipped, not queued. */
const MAX_IN_FLIGHT = 256;
/** Handshakes tried by start() before a writer's socket counts as unreachable. */
const START_CONNECT_TRIES = 3;
/** A principal's credentials are fetched again after a 401 at most this often. */
const REFRESH_EVERY_MS = 1_000;

/**
 * What one attempt established. `acked`: stored for sure. `no`: the target
 * refused; `retry` says whether it is worth asking again (5xx, 401) or final
 * (other 4xx, a realtime rejection). `unknown`: sent, no answer. `unsent`:
 * nothing left the harness (socket down, connection refused, no credentials).
 */
type Attempt = { kind: 'acked'; at: number; last: string } | { kind: 'no'; retry: boolean; last: string } | { kind: 'unknown'; last: string } | { kind: 'unsent'; last: string };

interface Writer {
  id: string;
  channel: IntegrityChannel;
  via: 'http' | 'ws';
  seq: number;
  socket?: WriterSocket;
  /** Realtime attempts awaiting an answer on the current socket, by ref. */
  pending: Map<string, PendingWrite>;
}

/** A realtime write's state while any of its refs may still be answered. */
interface PendingWrite {
  /** The ref of the attempt being awaited. */
  current?: string;
  /** Ends the current attempt. */
  settle?(a: Attempt): void;
  /** An ack for an earlier attempt's ref that arrived while no attempt was awaited. */
  lateAck?: number;
}

/**
 * Writers that append uniquely marked items to the profile's integrity
 * channels, over HTTP and/or the realtime socket, at a fixed total rate, and
 * record how every write ended. They keep writing through faults: a write
 * with no answer is retried with the same idempotency key, a dropped socket
 * reconnects with bounded backoff. `stop()` returns the log for
 * `checkNothingLost()`.
 */
export class IntegrityWriters implements AsyncDisposable {
  readonly #opts: WritersOptions;
  readonly #def: IntegrityDefinition;
  readonly #writers: Writer[];
  readonly #prefix: string;
  readonly #rate: number;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #records: WriteRecord[] = [];
  readonly #latencies: Array<{ t: number; ms: number; via: 'http' | 'ws'; ok: boolean }> = [];
  readonly #counts = { acked: 0, rejected: 0, indeterminate: 0 };
  readonly #inFlight = new Set<Promise<void>>();
  readonly #creds = new Map<string, { value: Promise<Credentials>; at: number }>();
  /** Aborted when in-flight writes must end now (the drain bound of stop()). */
  readonly #hard = new AbortController();
  readonly #agent = new Agent({ connections: 64, keepAliveTimeout: 4_000 });
  #state: 'new' | 'starting' | 'running' | 'stopping' = 'new';
  #loop: Promise<void> | undefined;
  #wakeLoop: (() => void) | undefined;
  #stopped: Promise<WriteLog> | undefined;
  #startedAt = 0;
  #deadline = 0;
  readonly #onAbort = () => this.#halt();

  constructor(opts: WritersOptions) {
    const def = opts.profile.integrity;
    if (!def) throw new BreakwaterError('BW_PROFILE_INVALID', `profile ${opts.profile.name} declares no integrity; add integrity (channels, http or realtime, history) to write and check through faults`);
    this.#opts = opts;
    this.#def = def;
    // Every in-flight write waits on the drain signal (up to MAX_IN_FLIGHT, plus their credential waits): not a leak.
    setMaxListeners(4 * MAX_IN_FLIGHT, this.#hard.signal);
    this.#rate = opts.ratePerSecond ?? DEFAULT_RATE;
    this.#timeoutMs = opts.writeTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retries = opts.retries ?? DEFAULT_RETRIES;
    if (!(this.#rate > 0 && this.#rate <= 1000)) throw new BreakwaterError('BW_USAGE', `integrity writers: ratePerSecond is ${this.#rate}; it must be more than 0 and at most 1000`);
    if (!(this.#timeoutMs >= 100)) throw new BreakwaterError('BW_USAGE', `integrity writers: writeTimeoutMs is ${this.#timeoutMs}; it must be at least 100`);
    if (!(Number.isInteger(this.#retries) && this.#retries >= 0 && this.#retries <= 10)) throw new BreakwaterError('BW_USAGE', `integrity writers: retries is ${this.#retries}; it must be an integer from 0 to 10`);

    const declared: Array<'http' | 'ws'> = [...(def.http ? (['http'] as const) : []), ...(def.realtime ? (['ws'] as const) : [])];
    const via = [...new Set(opts.via ?? declared)];
    if (via.length === 0) throw new BreakwaterError('BW_USAGE', 'integrity writers: via is empty; name "http", "ws" or both');
    for (const v of via) {
      if (!declared.includes(v)) throw new BreakwaterError('BW_USAGE', `integrity writers: via "${v}" but profile ${opts.profile.name} declares no integrity.${v === 'ws' ? 'realtime' : 'http'}; use ${declared.map((d) => `"${d}"`).join(' or ')}`);
    }
    if (via.includes('ws') && !opts.profile.realtime) throw new BreakwaterError('BW_PROFILE_INVALID', `profile ${opts.profile.name} has integrity.realtime but no realtime (path and auth) to connect with`);

    const channels = integrityChannels(def, opts.world, opts.profile);
    if (def.http && via.includes('http')) for (const c of channels) fillPath(def.http.path, c.params);
    this.#prefix = markerPrefix(opts.runId);
    this.#writers = channels.flatMap((channel, i) => via.map((v) => ({ id: `${v === 'http' ? 'h' : 'w'}${i}`, channel, via: v, seq: 0, pending: new Map() })));
  }

  /** Logs in, opens sockets (reconnecting with bounded backoff when they drop), starts the write loops. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new BreakwaterError('BW_USAGE', 'integrity writers: start() was already called; make new writers for another run');
    this.#state = 'starting';
    try {
      if (this.#opts.signal?.aborted) throw new BreakwaterError('BW_INTERRUPTED', 'integrity writers: interrupted before they started');
      this.#startedAt = Date.now();
      this.#deadline = this.#startedAt + (this.#opts.maxDurationMs ?? DEFAULT_MAX_DURATION_MS);
      await Promise.all([...new Set(this.#writers.map((w) => w.channel.as))].map((p) => this.#credentials(p)));
      await Promise.all(this.#writers.filter((w) => w.via === 'ws').map((w) => this.#openSocket(w)));
    } catch (err) {
      await this.#closeConnections();
      this.#state = 'stopping';
      throw err;
    }
    // stop() while starting: it has drained nothing and closed what existed then; close what opened since.
    if (this.#state !== 'starting') return this.#closeConnections();
    this.#state = 'running';
    this.#opts.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#loop = this.#run();
  }

  /** Stops the loops and waits for in-flight writes (at most `writeTimeoutMs`); what is still open then is indeterminate. Idempotent. */
  stop(): Promise<WriteLog> {
    this.#stopped ??= this.#drain();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  stats(): { acked: number; rejected: number; indeterminate: number; inFlight: number } {
    return { ...this.#counts, inFlight: this.#inFlight.size };
  }

  /** Acknowledgement latencies so far: t = ack time (epoch ms), ms = send→ack, ok = acked. Used as a steady-state probe (ws round trip, write success). */
  latencies(): Array<{ t: number; ms: number; via: 'http' | 'ws'; ok: boolean }> {
    return this.#latencies.slice();
  }

  /** Socket reconnect attempts and successes (for a reconnect-success-rate probe). */
  reconnects(): { attempts: number; successes: number } {
    let attempts = 0;
    let successes = 0;
    for (const w of this.#writers) {
      const r = w.socket?.reconnects;
      attempts += r?.attempts ?? 0;
      successes += r?.successes ?? 0;
    }
    return { attempts, successes };
  }

  // ── lifecycle ───────────────────────────────────────────────────────────────

  async #openSocket(w: Writer): Promise<void> {
    const rt = this.#opts.profile.realtime!;
    w.socket = new WriterSocket({
      baseUrl: this.#opts.baseUrl,
      realtime: rt,
      credentials: (refresh) => this.#credentials(w.channel.as, refresh),
      onFrame: (f) => this.#onFrame(w, f),
      onDrop: () => this.#onDrop(w),
      timeoutMs: this.#timeoutMs,
      deadline: this.#deadline,
    });
    let last: { status?: number; reason: string } | undefined;
    for (let i = 0; i < START_CONNECT_TRIES; i++) {
      if (i > 0) await sleep(RETRY_BACKOFF_MS * i);
      const r = await w.socket.connect(last?.status === 401);
      if (r.ok) return;
      last = r;
    }
    throw new BreakwaterError(
      'BW_TARGET_UNREACHABLE',
      `integrity writer for channel "${w.channel.key}" could not open ${rt.path} as ${w.channel.as} (${last?.reason}); check that the target is up and that ${w.channel.as} may use realtime`,
    );
  }

  /** Stops new writes; in-flight ones go on. */
  #halt(): void {
    if (this.#state === 'running') this.#state = 'stopping';
    this.#wakeLoop?.();
  }

  async #drain(): Promise<WriteLog> {
    const wasStarted = this.#state !== 'new';
    this.#halt();
    this.#state = 'stopping';
    this.#opts.signal?.removeEventListener('abort', this.#onAbort);
    await this.#loop;
    // Retries go on during the drain: a write that gets its answer now is better known. The bound ends them.
    const bound = setTimeout(() => this.#hard.abort(), this.#timeoutMs);
    try {
      await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise((r) => this.#hard.signal.addEventListener('abort', r, { once: true }))]);
      this.#hard.abort();
      // Every wait of a write races the hard signal, so this is prompt; the grace bounds a misbehaving login().
      await Promise.race([Promise.allSettled([...this.#inFlight]), sleep(1_000)]);
    } finally {
      clearTimeout(bound);
      await this.#closeConnections();
    }
    const writes = this.#records.filter((r) => r.attempts > 0).sort((a, b) => a.sentAt - b.sentAt);
    return { writes, startedAt: wasStarted ? this.#startedAt : Date.now(), stoppedAt: Date.now() };
  }

  async #closeConnections(): Promise<void> {
    this.#hard.abort();
    await Promise.allSettled(this.#writers.map((w) => w.socket?.close()));
    await this.#agent.destroy().catch(() => {});
  }

  /** Launches writes at the total rate, round-robin over the writers, until halted or a bound is reached. */
  async #run(): Promise<void> {
    const interval = 1000 / this.#rate;
    const maxWrites = this.#opts.maxWrites ?? DEFAULT_MAX_WRITES;
    let next = performance.now();
    for (let tick = 0; tick < maxWrites && this.#state === 'running' && Date.now() < this.#deadline; tick++) {
      const wait = next - performance.now();
      if (wait > 0) await this.#nap(wait);
      if (this.#state !== 'running') return;
      // Fall behind by at most a second (a stalled event loop): missed ticks are dropped, not sent in a burst.
      next = Math.max(next + interval, performance.now() - 1000);
      const w = this.#writers[tick % this.#writers.length]!;
      if (this.#inFlight.size >= MAX_IN_FLIGHT) continue;
      // A write is recorded only when it can be sent; the reconnect loop is bringing the socket back.
      if (w.via === 'ws' && !w.socket?.open) continue;
      const p = this.#write(w).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
  }

  #nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.#wakeLoop = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  // ── one write ───────────────────────────────────────────────────────────────

  /** One write through all its attempts. Never throws. */
  async #write(w: Writer): Promise<void> {
    const marker = makeMarker(this.#prefix, w.id, w.seq++);
    const rec: WriteRecord = { marker, channel: w.channel.key, via: w.via, sentAt: Date.now(), outcome: 'indeterminate', attempts: 0 };
    this.#records.push(rec);
    const pending: PendingWrite = {};
    const refs: string[] = [];
    let acked: number | undefined;
    let unknown = false;
    try {
      for (let attempt = 0; attempt <= this.#retries && !this.#hard.signal.aborted; attempt++) {
        if (attempt > 0 && !(await sleep(RETRY_BACKOFF_MS, this.#hard.signal))) break;
        if (pending.lateAck !== undefined) {
          acked = pending.lateAck;
          break;
        }
        const sendAt = Date.now();
        let a: Attempt;
        if (w.via === 'http') {
          a = await this.#httpAttempt(w, marker);
        } else {
          const ref = `${marker}~${attempt}`;
          refs.push(ref);
          a = await this.#wsAttempt(w, marker, ref, pending);
        }
        if (a.kind !== 'unsent') {
          rec.attempts++;
          if (rec.attempts === 1) rec.sentAt = sendAt;
        }
        rec.last = a.last;
        if (a.kind === 'acked') {
          acked = a.at;
          break;
        }
        if (a.kind === 'unknown') unknown = true;
        if (a.kind === 'no' && !a.retry) break;
      }
      acked ??= pending.lateAck;
    } catch (err) {
      // A profile callback that throws: the attempt's fate is unknown.
      unknown = true;
      rec.last = `error: ${(err as Error).message.split('\n')[0]}`;
    } finally {
      for (const r of refs) w.pending.delete(r);
    }
    const outcome: WriteOutcome = acked !== undefined ? 'acked' : unknown ? 'indeterminate' : 'rejected';
    rec.outcome = outcome;
    if (acked !== undefined) rec.ackedAt = acked;
    if (rec.attempts === 0) return;
    this.#counts[outcome]++;
    const t = acked ?? Date.now();
    this.#latencies.push({ t, ms: t - rec.sentAt, via: w.via, ok: outcome === 'acked' });
  }

  async #httpAttempt(w: Writer, marker: string): Promise<Attempt> {
    const http = this.#def.http!;
    const cred = await this.#credentialsWithin(w.channel.as);
    if (!cred) return { kind: 'unsent', last: 'no credentials' };
    const url = new URL(fillPath(http.path, w.channel.params), this.#opts.baseUrl).href;
    const body = JSON.stringify(http.body({ marker, key: marker }));
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.#timeoutMs);
    const onHard = () => ac.abort();
    this.#hard.signal.addEventListener('abort', onHard, { once: true });
    try {
      const res = await request(url, {
        dispatcher: this.#agent,
        method: http.method,
        headers: { ...authHeaders(cred), 'content-type': 'application/json' },
        body,
        signal: ac.signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      const status = res.statusCode;
      // The answer is the status; the body is read (and bounded by the same timeout) only to free the connection.
      await res.body.dump().catch(() => {});
      const last = `http ${status}`;
      if (status >= 200 && status < 300) return { kind: 'acked', at: Date.now(), last };
      if (status === 401) this.#refreshSoon(w.channel.as);
      return { kind: 'no', retry: status >= 500 || status === 401, last };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ECONNREFUSED') return { kind: 'unsent', last: 'connection refused' };
      return { kind: 'unknown', last: ac.signal.aborted ? 'timeout' : (code ?? 'request failed') };
    } finally {
      clearTimeout(timer);
      this.#hard.signal.removeEventListener('abort', onHard);
    }
  }

  async #wsAttempt(w: Writer, marker: string, ref: string, pending: PendingWrite): Promise<Attempt> {
    const socket = w.socket!;
    if (!(await socket.waitOpen(this.#timeoutMs, this.#hard.signal))) return { kind: 'unsent', last: 'socket down' };
    const frame = JSON.stringify(this.#def.realtime!.frame(w.channel, { marker, key: marker, ref }));
    return new Promise<Attempt>((resolve) => {
      const settle = (a: Attempt) => {
        if (pending.settle !== settle) return;
        pending.settle = undefined;
        pending.current = undefined;
        clearTimeout(timer);
        this.#hard.signal.removeEventListener('abort', onHard);
        resolve(a);
      };
      const onHard = () => settle({ kind: 'unknown', last: 'stopped' });
      const timer = setTimeout(() => settle({ kind: 'unknown', last: 'timeout' }), this.#timeoutMs);
      this.#hard.signal.addEventListener('abort', onHard, { once: true });
      pending.current = ref;
      pending.settle = settle;
      w.pending.set(ref, pending);
      socket.send(frame).catch((err: Error) => settle(err.message === 'socket not open' ? { kind: 'unsent', last: 'socket down' } : { kind: 'unknown', last: 'send failed' }));
    });
  }

  /** Routes a reply to the write whose ref it answers (an ack of any attempt acknowledges the write). */
  #onFrame(w: Writer, frame: unknown): void {
    const rt = this.#def.realtime!;
    const direct = (frame as { ref?: unknown } | null)?.ref;
    const candidates = typeof direct === 'string' && w.pending.has(direct) ? [direct] : [...w.pending.keys()];
    for (const ref of candidates) {
      const p = w.pending.get(ref)!;
      if (safely(() => rt.acked(frame, ref))) {
        const at = Date.now();
        if (p.settle) p.settle({ kind: 'acked', at, last: 'ws ack' });
        else p.lateAck ??= at;
        return;
      }
      // A rejection answers only the attempt it names; a late one for an earlier attempt changes nothing.
      if (p.current === ref && rt.rejected && safely(() => rt.rejected!(frame, ref))) {
        p.settle?.({ kind: 'no', retry: false, last: 'ws rejected' });
        return;
      }
    }
  }

  /** In-flight realtime attempts on a dropped socket are unanswered: indeterminate, and retried on the next socket. */
  #onDrop(w: Writer): void {
    const waiting = [...new Set(w.pending.values())];
    w.pending.clear();
    for (const p of waiting) p.settle?.({ kind: 'unknown', last: 'socket closed' });
  }

  // ── credentials ─────────────────────────────────────────────────────────────

  #credentials(principal: string, refresh = false): Promise<Credentials> {
    const cached = this.#creds.get(principal);
    if (cached && !(refresh && Date.now() - cached.at >= REFRESH_EVERY_MS)) return cached.value;
    const value = this.#opts.login(principal);
    const entry = { value, at: Date.now() };
    this.#creds.set(principal, entry);
    // A failed login is not cached: the next write logs in again.
    value.catch(() => this.#creds.get(principal) === entry && this.#creds.delete(principal));
    return value;
  }

  #refreshSoon(principal: string): void {
    void this.#credentials(principal, true).catch(() => {});
  }

  /** Credentials, or undefined when login fails or takes longer than a write may. */
  async #credentialsWithin(principal: string): Promise<Credentials | undefined> {
    const ac = new AbortController();
    const onHard = () => ac.abort();
    this.#hard.signal.addEventListener('abort', onHard, { once: true });
    try {
      return await Promise.race([this.#credentials(principal).catch(() => undefined), sleep(this.#timeoutMs, ac.signal).then(() => undefined)]);
    } finally {
      ac.abort();
      this.#hard.signal.removeEventListener('abort', onHard);
    }
  }
}

/** The profile's integrity channels for a world, checked: at least two, unique keys. */
export function integrityChannels(def: IntegrityDefinition, world: unknown, profile: Pick<TargetProfile, 'name'>): IntegrityChannel[] {
  const channels = def.channels(world);
  if (!Array.isArray(channels) || channels.length < 2) {
    throw new BreakwaterError(
      'BW_PROFILE_INVALID',
      `profile ${profile.name}: integrity.channels(world) returned ${Array.isArray(channels) ? channels.length : 'no list of'} channel(s); return at least two so that cross-channel delivery can be seen`,
    );
  }
  const keys = new Set<string>();
  for (const c of channels) {
    if (keys.has(c.key)) throw new BreakwaterError('BW_PROFILE_INVALID', `profile ${profile.name}: integrity.channels(world) returned the key "${c.key}" twice; channel keys must be unique`);
    keys.add(c.key);
  }
  return channels;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts; the timer never outlives it. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(true), ms);
    const onAbort = () => finish(false);
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish(v: boolean) {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    }
  });
}

function safely(fn: () => boolean): boolean {
  try {
    return fn();
  } catch {
    return false;
  }
}
