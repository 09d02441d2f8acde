import { WebSocket, type RawData } from 'ws';
import type { Credentials, RealtimeDefinition } from '../config/target.ts';

/** One frame a socket received, kept in arrival order. */
export interface ReceivedFrame {
  /** The frame parsed as JSON, or its text when it is not JSON. */
  data: unknown;
  text: string;
  binary: boolean;
  at: number;
}

/** How an upgrade attempt ended. A refused one carries the HTTP status when the server sent one. */
export type ConnectOutcome =
  | { connected: true; socket: RealtimeSocket }
  | { connected: false; status?: number; reason: string };

export interface RealtimeClientOptions {
  /** The entry URL (`http(s)://host:port`); the socket goes to the same host with `ws(s)`. */
  baseUrl: string;
  realtime: Pick<RealtimeDefinition, 'path' | 'auth'>;
  /** Bound on the upgrade handshake (default 5 s). */
  connectTimeoutMs?: number;
}

/** Frames kept per socket; a flood beyond this keeps only the first ones. */
const MAX_FRAMES = 10_000;
const CLOSE_GRACE_MS = 1_000;

/**
 * One open socket of one principal. It collects every frame it receives; waits
 * are bounded and resolve with `undefined` on timeout or close, never throw.
 */
export class RealtimeSocket implements AsyncDisposable {
  readonly frames: ReceivedFrame[] = [];
  /** Set once the socket has closed. */
  closeInfo: { code: number; reason: string } | undefined;
  readonly #ws: WebSocket;
  readonly #listeners = new Set<() => void>();
  #closing: Promise<void> | undefined;

  constructor(
    readonly principal: string,
    ws: WebSocket,
  ) {
    this.#ws = ws;
    ws.on('message', (raw: RawData, binary: boolean) => {
      if (this.frames.length < MAX_FRAMES) this.frames.push(parseFrame(raw, binary));
      this.#notify();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      this.#notify();
    });
    // Errors end in 'close'; without a listener ws would throw them.
    ws.on('error', () => {});
  }

  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Bytes queued for sending and not yet handed to the kernel (the flood generator's backpressure gauge). */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Sends one frame as JSON text (a string is sent as is). Returns false when
   * the socket is not open. `onWritten` fires once the frame's bytes have been
   * handed to the kernel, or with the error that stopped them.
   */
  send(frame: unknown, onWritten?: (err?: Error) => void): boolean {
    if (!this.open) return false;
    this.#ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame), onWritten);
    return true;
  }

  /**
   * Sends bytes exactly as given, as a text frame (even when they are not valid
   * UTF-8) or as a binary frame. Returns false when the socket is not open.
   */
  sendRaw(data: string | Uint8Array, opts: { binary: boolean }): boolean {
    if (!this.open) return false;
    this.#ws.send(data, { binary: opts.binary });
    return true;
  }

  /**
   * The first frame from index `from` on (default: every frame so far) that
   * satisfies `predicate`, waiting at most `timeoutMs` for it. `undefined` on
   * timeout or when the socket closes first. A predicate that throws is a no.
   */
  waitFor(predicate: (data: any, frame: ReceivedFrame) => boolean, timeoutMs: number, from = 0): Promise<ReceivedFrame | undefined> {
    return waitForAny([{ socket: this, predicate, from }], timeoutMs).then((hit) => hit?.frame);
  }

  /** Whether the socket closes within `timeoutMs` (true at once if already closed). */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.closeInfo) return true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const off = this.onChange(() => this.closeInfo && done());
      function done() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
    return this.closeInfo !== undefined;
  }

  /** Calls `listener` after every received frame and on close. Returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes with 1000, terminating after a grace period. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.closeInfo || this.#ws.readyState === WebSocket.CLOSED) return;
      this.#ws.close(1000, 'breakwater done');
      if (!(await this.waitClosed(CLOSE_GRACE_MS))) this.#ws.terminate();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }
}

/**
 * Waits for the first frame, on any of the given sockets, that satisfies that
 * socket's predicate (frames already received from `from` on count). Resolves
 * with `undefined` after `timeoutMs`, or when every socket has closed.
 */
export function waitForAny(
  entries: Array<{ socket: RealtimeSocket; predicate: (data: any, frame: ReceivedFrame) => boolean; from?: number }>,
  timeoutMs: number,
): Promise<{ socket: RealtimeSocket; frame: ReceivedFrame } | undefined> {
  const cursors = entries.map((e) => e.from ?? 0);
  const scan = () => {
    for (const [i, e] of entries.entries()) {
      const frames = e.socket.frames;
      for (; cursors[i]! < frames.length; cursors[i]!++) {
        const frame = frames[cursors[i]!]!;
        if (safely(e.predicate, frame)) return { socket: e.socket, frame };
      }
    }
    return undefined;
  };
  const now = scan();
  if (now || entries.length === 0 || entries.every((e) => e.socket.closeInfo)) return Promise.resolve(now);
  return new Promise((resolve) => {
    const offs: Array<() => void> = [];
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (hit: { socket: RealtimeSocket; frame: ReceivedFrame } | undefined) => {
      clearTimeout(timer);
      for (const off of offs) off();
      resolve(hit);
    };
    const check = () => {
      const hit = scan();
      if (hit || entries.every((e) => e.socket.closeInfo)) finish(hit);
    };
    for (const e of entries) offs.push(e.socket.onChange(check));
  });
}

/**
 * Opens sockets on a target's realtime endpoint as its principals, presenting
 * their credentials the way the profile says (`realtime.auth`). It owns every
 * socket it opens: `closeAll()` (or disposal) closes them.
 */
export class RealtimeClient implements AsyncDisposable {
  readonly #opts: RealtimeClientOptions;
  readonly #sockets = new Set<RealtimeSocket>();
  readonly #pending = new Set<WebSocket>();

  constructor(opts: RealtimeClientOptions) {
    this.#opts = opts;
  }

  /** Why these credentials cannot authenticate a socket under the profile's `realtime.auth`, or undefined when they can. */
  unusable(cred: Credentials): string | undefined {
    const { auth } = this.#opts.realtime;
    const present = auth === 'headers' ? cred.headers : auth === 'cookies' ? cred.cookies : cred.query;
    if (present && Object.keys(present).length > 0) return undefined;
    return `its login returned no ${auth === 'headers' ? 'headers' : auth === 'cookies' ? 'cookies' : 'query parameters'}, and realtime.auth is '${auth}'`;
  }

  /** The socket URL for these credentials (query credentials included). */
  url(cred: Credentials): string {
    const url = new URL(this.#opts.realtime.path, this.#opts.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.#opts.realtime.auth === 'query') for (const [k, v] of Object.entries(cred.query ?? {})) url.searchParams.set(k, v);
    return url.href;
  }

  /** Opens a socket as `principal`. Never throws for a refused upgrade: the outcome says what happened. */
  connect(principal: string, cred: Credentials): Promise<ConnectOutcome> {
    const { auth } = this.#opts.realtime;
    const headers: Record<string, string> = {};
    if (auth === 'headers') Object.assign(headers, cred.headers);
    if (auth === 'cookies' && cred.cookies) headers.cookie = Object.entries(cred.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
    const timeoutMs = this.#opts.connectTimeoutMs ?? 5_000;
    const ws = new WebSocket(this.url(cred), { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false });
    this.#pending.add(ws);
    // Frames can arrive right after 'open', before the socket wrapper exists: wrap now.
    const socket = new RealtimeSocket(principal, ws);
    return new Promise<ConnectOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: ConnectOutcome) => {
        if (settled) return;
        settled = true;
        this.#pending.delete(ws);
        if (outcome.connected) this.#sockets.add(socket);
        else if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
        resolve(outcome);
      };
      ws.once('open', () => settle({ connected: true, socket }));
      ws.once('unexpected-response', (req, res) => {
        res.resume();
        req.destroy();
        settle({ connected: false, status: res.statusCode, reason: `upgrade answered HTTP ${res.statusCode}` });
      });
      ws.once('error', (err) => settle({ connected: false, reason: `upgrade failed: ${err.message}` }));
      ws.once('close', (code) => settle({ connected: false, reason: `closed with ${code} before the upgrade completed` }));
    });
  }

  /** Closes every socket this client opened, including half-open ones. Idempotent; never throws. */
  async closeAll(): Promise<void> {
    for (const ws of this.#pending) ws.terminate();
    this.#pending.clear();
    await Promise.allSettled([...this.#sockets].map((s) => s.close()));
    this.#sockets.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.closeAll();
  }
}

function parseFrame(raw: RawData, binary: boolean): ReceivedFrame {
  const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
  const text = buf.toString('utf8');
  let data: unknown = text;
  if (!binary) {
    try {
      data = JSON.parse(text);
    } catch {
      /* not JSON: keep the text */
    }
  }
  return { data, text, binary, at: Date.now() };
}

function safely(predicate: (data: any, frame: ReceivedFrame) => boolean, frame: ReceivedFrame): boolean {
  try {
    return predicate(frame.data, frame);
  } catch {
    return false;
  }
}
