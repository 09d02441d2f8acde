import WebSocket from 'ws';

export type Frame = Record<string, any>;

/** Longest a test waits for one socket event. */
export const SOCKET_WAIT_MS = 3000;

/** A client socket that records every frame it receives. */
export interface TestSocket {
  readonly ws: WebSocket;
  /** Every server frame so far, parsed, in arrival order. */
  readonly frames: Frame[];
  /** Sends an object as JSON, or a string / buffer as-is (text / binary frame). */
  send(frame: Frame | string | Buffer): void;
  /** Resolves with the first frame (already received or arriving) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (f: Frame) => boolean, what: string, timeoutMs?: number): Promise<Frame>;
  /** Sends `frame` with a fresh `ref` and resolves with the reply carrying that ref. */
  request(frame: Frame, timeoutMs?: number): Promise<Frame>;
  /** Resolves with the close code and reason, or rejects after `timeoutMs`. */
  closed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

let nextRef = 0;

/** Opens a socket, authenticated by header (default) or by `?token=`. Rejects with the HTTP status if the upgrade is refused. */
export function openSocket(wsUrl: string, token: string, via: 'header' | 'query' = 'header'): Promise<TestSocket> {
  const url = via === 'query' ? `${wsUrl}?token=${encodeURIComponent(token)}` : wsUrl;
  const ws = new WebSocket(url, via === 'header' ? { headers: { authorization: `Bearer ${token}` } } : {});
  const frames: Frame[] = [];
  const waiters = new Set<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }>();
  let closeInfo: { code: number; reason: string } | undefined;
  const closeWaiters = new Set<(c: { code: number; reason: string }) => void>();
  ws.on('message', (data, isBinary) => {
    const frame: Frame = isBinary ? { binary: true } : JSON.parse(data.toString());
    frames.push(frame);
    for (const w of waiters) {
      if (w.match(frame)) {
        waiters.delete(w);
        w.resolve(frame);
      }
    }
  });
  ws.on('close', (code, reason) => {
    closeInfo = { code, reason: reason.toString() };
    for (const w of closeWaiters) w(closeInfo);
  });
  ws.on('error', () => {});

  const socket: TestSocket = {
    ws,
    frames,
    send(frame) {
      ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
    },
    waitFor(match, what, timeoutMs = SOCKET_WAIT_MS) {
      const seen = frames.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (f: Frame) => (clearTimeout(timer), resolve(f)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms; frames so far: ${JSON.stringify(frames).slice(0, 500)}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    request(frame, timeoutMs) {
      const ref = `r${++nextRef}`;
      socket.send({ ...frame, ref });
      return socket.waitFor((f) => f.ref === ref, `reply to ${frame.type} (${ref})`, timeoutMs);
    },
    closed(timeoutMs = SOCKET_WAIT_MS) {
      if (closeInfo) return Promise.resolve(closeInfo);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs);
        closeWaiters.add((c) => (clearTimeout(timer), resolve(c)));
      });
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await socket.closed().catch(() => ws.terminate());
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`socket to ${wsUrl} not open within ${SOCKET_WAIT_MS} ms`));
    }, SOCKET_WAIT_MS);
    ws.once('open', () => (clearTimeout(timer), resolve(socket)));
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      reject(new UpgradeRefused(res.statusCode ?? 0));
    });
    ws.once('error', (err) => (clearTimeout(timer), reject(err)));
  });
}

/** The upgrade request was answered with an HTTP status instead of 101. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

/** The HTTP status an upgrade attempt gets: 101 when the socket opens. */
export async function upgradeStatus(wsUrl: string, token: string): Promise<number> {
  try {
    const s = await openSocket(wsUrl, token);
    await s.close();
    return 101;
  } catch (err) {
    if (err instanceof UpgradeRefused) return err.status;
    throw err;
  }
}

/** Owns the sockets a test file opens, so `afterAll` can close them all. */
export class SocketPool {
  readonly #open = new Set<TestSocket>();

  async open(wsUrl: string, token: string, via: 'header' | 'query' = 'header'): Promise<TestSocket> {
    const s = await openSocket(wsUrl, token, via);
    this.#open.add(s);
    return s;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open].map((s) => s.close()));
    this.#open.clear();
  }
}

/**
 * Sends `count` copies of a cheap frame without waiting and collects the replies,
 * returning how many were rate limited.
 */
export async function burst(socket: TestSocket, count: number): Promise<{ replies: Frame[]; rateLimited: number }> {
  const refs = Array.from({ length: count }, () => `b${++nextRef}`);
  for (const ref of refs) socket.send({ type: 'unsubscribe', channelId: '00000000-0000-4000-8000-000000000000', ref });
  const replies = await Promise.all(refs.map((ref) => socket.waitFor((f) => f.ref === ref, `reply ${ref}`)));
  return { replies, rateLimited: replies.filter((f) => f.type === 'error' && f.code === 'rate_limited').length };
}
