import { WebSocket, type RawData } from 'ws';
import type { Credentials, RealtimeDefinition } from '../config/target.ts';
import { authHeaders } from '../suite/http-auth.ts';

export interface WriterSocketOptions {
  baseUrl: string;
  realtime: Pick<RealtimeDefinition, 'path' | 'auth'>;
  /** Current credentials; `refresh` after the upgrade was refused with 401. */
  credentials(refresh: boolean): Promise<Credentials>;
  /** Every JSON frame received, in order. */
  onFrame(frame: unknown): void;
  /** Fires once each time an open socket closes (before any reconnect). */
  onDrop(): void;
  /** Bound on one upgrade handshake, and the heartbeat period. */
  timeoutMs: number;
  /** Reconnecting stops at this time (epoch ms) at the latest. */
  deadline: number;
}

/** Reconnect backoff: doubles from the first delay up to the cap, with jitter. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_CAP_MS = 2_000;

export type ConnectResult = { ok: true } | { ok: false; status?: number; reason: string };

/**
 * One writer's socket. Once connected it stays connected: when it drops it
 * reconnects with bounded backoff until `close()` or the deadline. A
 * heartbeat ping that gets no pong within one period terminates a socket
 * that died silently, so that it reconnects too.
 */
export class WriterSocket {
  readonly #opts: WriterSocketOptions;
  #ws: WebSocket | undefined;
  /** A handshake in progress, terminated by close(). */
  #connecting: WebSocket | undefined;
  #closed = false;
  #reconnecting = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #napTimer: NodeJS.Timeout | undefined;
  #wakeNap: (() => void) | undefined;
  readonly #openWaiters = new Set<() => void>();
  #reconnectAttempts = 0;
  #reconnectSuccesses = 0;

  constructor(opts: WriterSocketOptions) {
    this.#opts = opts;
  }

  get open(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  get reconnects(): { attempts: number; successes: number } {
    return { attempts: this.#reconnectAttempts, successes: this.#reconnectSuccesses };
  }

  /** The first connection: one handshake. Drops after it succeed are reconnected on their own. */
  connect(refresh = false): Promise<ConnectResult> {
    return this.#handshake(refresh);
  }

  /** Sends one text frame; resolves once written, rejects when the socket is not open or the write failed. */
  send(text: string): Promise<void> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('socket not open'));
    return new Promise((resolve, reject) => ws.send(text, (err) => (err ? reject(err) : resolve())));
  }

  /** Whether the socket is open within `timeoutMs` (at once when it is). False on timeout, close, or abort. */
  waitOpen(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (this.open) return Promise.resolve(true);
    if (this.#closed || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#openWaiters.delete(done);
        resolve(this.open);
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.#openWaiters.add(done);
    });
  }

  /** Closes the socket and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeNap?.();
    this.#connecting?.terminate();
    this.#stopHeartbeat();
    for (const w of [...this.#openWaiters]) w();
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1_000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(1000, 'breakwater integrity writers done');
    });
  }

  #url(cred: Credentials): string {
    const url = new URL(this.#opts.realtime.path, this.#opts.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.#opts.realtime.auth === 'query') for (const [k, v] of Object.entries(cred.query ?? {})) url.searchParams.set(k, v);
    return url.href;
  }

  #headers(cred: Credentials): Record<string, string> {
    const { auth } = this.#opts.realtime;
    if (auth === 'headers') return { ...(cred.headers ?? {}) };
    if (auth === 'cookies') return authHeaders({ cookies: cred.cookies });
    return {};
  }

  async #handshake(refresh: boolean): Promise<ConnectResult> {
    let cred: Credentials;
    try {
      cred = await this.#opts.credentials(refresh);
    } catch {
      // The login's own error is the profile's to report; its text is kept out of here.
      return { ok: false, reason: 'login failed' };
    }
    if (this.#closed) return { ok: false, reason: 'closed' };
    const ws = new WebSocket(this.#url(cred), { headers: this.#headers(cred), handshakeTimeout: this.#opts.timeoutMs, perMessageDeflate: false });
    this.#connecting = ws;
    // Errors end in 'close'; without a listener ws would throw them (a terminate() mid-handshake emits one).
    ws.on('error', () => {});
    const result = await new Promise<ConnectResult>((resolve) => {
      ws.once('open', () => resolve({ ok: true }));
      ws.once('unexpected-response', (req, res) => {
        res.resume();
        req.destroy();
        resolve({ ok: false, status: res.statusCode, reason: `upgrade answered HTTP ${res.statusCode}` });
      });
      ws.once('error', (err) => resolve({ ok: false, reason: `upgrade failed: ${withoutQuery(err.message, cred)}` }));
      ws.once('close', (code) => resolve({ ok: false, reason: `closed with ${code} during the upgrade` }));
    });
    this.#connecting = undefined;
    if (!result.ok || this.#closed) {
      ws.terminate();
      return result.ok ? { ok: false, reason: 'closed' } : result;
    }
    this.#adopt(ws);
    return result;
  }

  #adopt(ws: WebSocket): void {
    this.#ws = ws;
    let alive = true;
    ws.on('pong', () => (alive = true));
    ws.on('message', (raw: RawData, binary: boolean) => {
      alive = true;
      if (binary) return;
      let frame: unknown;
      try {
        frame = JSON.parse(Array.isArray(raw) ? Buffer.concat(raw).toString('utf8') : Buffer.from(raw as ArrayBuffer).toString('utf8'));
      } catch {
        return;
      }
      this.#opts.onFrame(frame);
    });
    ws.once('close', () => {
      this.#stopHeartbeat();
      if (this.#ws === ws) this.#ws = undefined;
      this.#opts.onDrop();
      if (!this.#closed) void this.#reconnect();
    });
    this.#heartbeat = setInterval(() => {
      if (!alive) return void ws.terminate();
      alive = false;
      ws.ping();
    }, this.#opts.timeoutMs);
    for (const w of [...this.#openWaiters]) w();
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Reconnects with backoff; bounded by close() and the deadline. */
  async #reconnect(): Promise<void> {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    let refresh = false;
    try {
      // Until open, not until one handshake succeeded: a socket that drops again at once (while this loop still runs) is retried here.
      for (let n = 0; !this.#closed && !this.open && Date.now() < this.#opts.deadline; n++) {
        const base = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** Math.min(n, 5));
        await this.#nap(base / 2 + (Math.random() * base) / 2);
        if (this.#closed) return;
        this.#reconnectAttempts++;
        const r = await this.#handshake(refresh);
        if (r.ok) this.#reconnectSuccesses++;
        refresh = !r.ok && r.status === 401;
      }
    } finally {
      this.#reconnecting = false;
    }
  }

  #nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeNap = () => {
        clearTimeout(this.#napTimer);
        this.#wakeNap = undefined;
        resolve();
      };
      this.#napTimer = setTimeout(this.#wakeNap, ms);
    });
  }
}

/** A socket URL may carry query credentials; an error message that quotes it must not. */
function withoutQuery(message: string, cred: Credentials): string {
  let out = message.split('\n')[0]!;
  for (const v of Object.values(cred.query ?? {})) if (v) out = out.split(v).join('***');
  return out;
}
