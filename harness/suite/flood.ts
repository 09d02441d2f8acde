import type { WebSocket } from 'ws';
import type { ReceivedFrame } from './realtime-client.ts';

/**
 * Where a flood writes. A `RealtimeSocket` is one; wrap a raw `ws` WebSocket
 * with `wsFloodSink()`.
 */
export interface FloodSink {
  readonly open: boolean;
  /** Bytes queued and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** Queues one text frame; `onWritten` fires once its bytes reached the kernel (or with the error that stopped them). */
  send(text: string, onWritten?: (err?: Error) => void): unknown;
}

/** Where replies to a flood arrive. A `RealtimeSocket` is one. */
export interface FloodReplySource {
  readonly frames: readonly ReceivedFrame[];
  readonly closeInfo?: { code: number; reason: string } | undefined;
  /** Calls `listener` after every received frame and on close; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** What one reply says about the flood: a frame was accepted or rejected, and which one when the reply names it. */
export interface FloodReply {
  verdict: 'accepted' | 'rejected';
  /** Index of the frame in send order, when the reply identifies it. */
  index?: number;
}

export type FrameVerdict = 'accepted' | 'rejected' | 'unknown';

export interface FloodOptions {
  sink: FloodSink;
  /** Text of the frame with this index (0-based), built just before it is sent. */
  frame(index: number): string;
  /** At most this many frames. */
  count: number;
  /** Sending stops once this much time has passed, even if frames remain. */
  maxMs: number;
  /**
   * Spreads the frames evenly over this many milliseconds (a steady rate)
   * instead of sending them as fast as the socket takes them.
   */
  spreadMs?: number;
  /** Bytes queued in the socket above which sending waits for the kernel to catch up (default 1 MiB). */
  highWaterBytes?: number;
  /** Frames sent between two checks of the clock and of backpressure (default 256). */
  batch?: number;
  /** How to read the server's replies; without it every frame stays `unknown`. */
  replies?: {
    sources: FloodReplySource[];
    /** Classifies one received frame; undefined when it says nothing about this flood. A throw counts as undefined. */
    classify(data: unknown, frame: ReceivedFrame, source: FloodReplySource): FloodReply | undefined;
    /** After sending, how long without a new classified reply ends the wait (default 300 ms). */
    quietMs?: number;
    /** Bound on the wait for replies after sending (default 2 s). */
    maxWaitMs?: number;
  };
}

export interface FloodResult {
  sent: number;
  stoppedBy: 'count' | 'time' | 'closed';
  /** `performance.now()` when the first frame was sent. */
  startedAt: number;
  /** From the first frame sent to the last. */
  sendMs: number;
  /** From the first frame sent to the last classified reply (`sendMs` when there was none). */
  elapsedMs: number;
  /** Per sent frame: `performance.now()` when it was queued. */
  sentAt: Float64Array;
  /** Per sent frame: when a reply accepting or rejecting it by index arrived; NaN when none did. */
  repliedAt: Float64Array;
  /** Per sent frame, in send order. Rejections that name no frame are counted in `rejected` but leave the frame `unknown`. */
  verdicts: FrameVerdict[];
  accepted: number;
  rejected: number;
  /** `performance.now()` of the last classified reply. */
  lastReplyAt?: number;
}

const DEFAULT_HIGH_WATER = 1 << 20;
const DEFAULT_BATCH = 256;
/** Tick of a spread flood: frames that fell due since the last tick go out together. */
const SPREAD_TICK_MS = 5;

/** A raw `ws` WebSocket as a flood sink. */
export function wsFloodSink(ws: WebSocket): FloodSink {
  return {
    get open() {
      return ws.readyState === ws.OPEN;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    send: (text, onWritten) => ws.send(text, onWritten),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends up to `count` frames on one socket, bounded by `count` and `maxMs`:
 * as fast as the socket takes them (batches of `ws.send` calls, pausing while
 * more than `highWaterBytes` wait in the socket), or spread evenly over
 * `spreadMs`. With `replies`, it then waits (bounded) until every frame is
 * classified or the replies go quiet, and returns per-frame verdicts. Never
 * throws for a closed socket: `stoppedBy` says so.
 */
export async function flood(opts: FloodOptions): Promise<FloodResult> {
  const { sink, count } = opts;
  const highWater = opts.highWaterBytes ?? DEFAULT_HIGH_WATER;
  const batch = Math.max(1, opts.batch ?? DEFAULT_BATCH);
  const sentAt = new Float64Array(count);
  const repliedAt = new Float64Array(count).fill(Number.NaN);
  const verdicts: FrameVerdict[] = new Array<FrameVerdict>(count).fill('unknown');
  let sent = 0;
  let accepted = 0;
  let rejected = 0;
  let lastReplyAt: number | undefined;
  let onReply: (() => void) | undefined;

  // Replies are watched from before the first send: a fast server answers during the loop.
  const tally = opts.replies;
  const offs: Array<() => void> = [];
  if (tally) {
    for (const source of tally.sources) {
      let cursor = source.frames.length;
      const scan = () => {
        const frames = source.frames;
        for (; cursor < frames.length; cursor++) {
          const frame = frames[cursor]!;
          let reply: FloodReply | undefined;
          try {
            reply = tally.classify(frame.data, frame, source);
          } catch {
            reply = undefined;
          }
          if (!reply) continue;
          const now = performance.now();
          const i = reply.index;
          if (i !== undefined && i >= 0 && i < count) {
            // The same accepted frame may arrive on several sockets (a broadcast): count it once.
            if (verdicts[i] !== 'unknown') continue;
            verdicts[i] = reply.verdict;
            repliedAt[i] = now;
          }
          if (reply.verdict === 'accepted') accepted++;
          else rejected++;
          lastReplyAt = now;
        }
        onReply?.();
      };
      offs.push(source.onChange(scan));
    }
  }

  const startedAt = performance.now();
  const deadline = startedAt + opts.maxMs;
  let stoppedBy: FloodResult['stoppedBy'] = 'count';
  // Write callbacks of batch ends still in the socket, oldest first: waiting on one keeps the rest in flight.
  const inFlight: Array<Promise<void>> = [];

  const sendOne = (now: number, last: boolean): void => {
    const i = sent;
    sentAt[i] = now;
    if (last) {
      inFlight.push(new Promise<void>((resolve) => sink.send(opts.frame(i), () => resolve())));
    } else {
      sink.send(opts.frame(i));
    }
    sent++;
  };

  try {
    if (opts.spreadMs !== undefined && opts.spreadMs > 0) {
      const spread = opts.spreadMs;
      while (sent < count) {
        const now = performance.now();
        if (now > deadline) {
          stoppedBy = 'time';
          break;
        }
        if (!sink.open) {
          stoppedBy = 'closed';
          break;
        }
        const due = Math.min(count, Math.floor(((now - startedAt) * count) / spread) + 1);
        while (sent < due) sendOne(now, false);
        if (sent < count) await sleep(Math.min(SPREAD_TICK_MS, Math.max(0, deadline - now)));
      }
    } else {
      while (sent < count) {
        if (!sink.open) {
          stoppedBy = 'closed';
          break;
        }
        const now = performance.now();
        if (now > deadline) {
          stoppedBy = 'time';
          break;
        }
        const end = Math.min(count, sent + batch);
        while (sent < end - 1) sendOne(now, false);
        sendOne(now, true);
        // Backpressure: wait for older batches to reach the kernel, never past the deadline.
        while (inFlight.length > 1 && sink.bufferedAmount > highWater && sink.open) {
          const oldest = inFlight.shift()!;
          await Promise.race([oldest, sleep(Math.max(1, deadline - performance.now()))]);
          if (performance.now() > deadline) break;
        }
        if (inFlight.length > 64) inFlight.splice(0, inFlight.length - 2);
      }
    }
    const sendMs = sent > 0 ? sentAt[sent - 1]! - startedAt : 0;

    if (tally && sent > 0) await settle(tally, () => accepted + rejected >= sent || tally.sources.every((s) => s.closeInfo), () => lastReplyAt, (l) => (onReply = l));
    return {
      sent,
      stoppedBy,
      startedAt,
      sendMs,
      elapsedMs: lastReplyAt !== undefined ? Math.max(sendMs, lastReplyAt - startedAt) : sendMs,
      sentAt: sentAt.subarray(0, sent),
      repliedAt: repliedAt.subarray(0, sent),
      verdicts: verdicts.slice(0, sent),
      accepted,
      rejected,
      lastReplyAt,
    };
  } finally {
    for (const off of offs) off();
  }
}

/** Waits until `done()`, or `quietMs` pass without a new reply, or `maxWaitMs` pass. */
function settle(
  tally: NonNullable<FloodOptions['replies']>,
  done: () => boolean,
  lastReplyAt: () => number | undefined,
  subscribe: (listener: (() => void) | undefined) => void,
): Promise<void> {
  const quietMs = tally.quietMs ?? 300;
  const maxWaitMs = tally.maxWaitMs ?? 2_000;
  if (done()) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const started = performance.now();
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const hard = setTimeout(finish, maxWaitMs);
    const armQuiet = () => {
      clearTimeout(quiet);
      const since = Math.max(started, lastReplyAt() ?? started);
      quiet = setTimeout(finish, Math.max(0, since + quietMs - performance.now()));
    };
    function finish() {
      clearTimeout(quiet);
      clearTimeout(hard);
      subscribe(undefined);
      resolve();
    }
    subscribe(() => (done() ? finish() : armQuiet()));
    armQuiet();
  });
}
