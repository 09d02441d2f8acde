import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { WebSocket } from 'ws';
import { flood, wsFloodSink } from '../harness/suite/flood.ts';
import { median, type BenchResult } from './types.ts';

const FRAMES = 200_000;
const RUNS = 3;
const RATIO_GOAL = 0.9;
const FRAME = JSON.stringify({ type: 'message.send', channelId: '00000000-0000-4000-8000-000000000000', body: 'breakwater flood bench frame', clientId: 'bench' });
const TRIAL_TIMEOUT_MS = 60_000;

/**
 * The sink: a `ws` server on 127.0.0.1 in a worker thread (so its receiving
 * does not share the sender's event loop) that counts each connection's
 * messages and reports when one has received the expected number.
 */
const SINK = `
const { parentPort, workerData } = require('node:worker_threads');
const { WebSocketServer } = require(workerData.ws);
let expected = 0;
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 20 });
wss.on('listening', () => parentPort.postMessage({ port: wss.address().port }));
wss.on('connection', (ws) => {
  let n = 0;
  ws.on('message', () => { if (++n === expected) parentPort.postMessage({ done: n }); });
});
parentPort.on('message', (m) => {
  if (m.expect !== undefined) expected = m.expect;
  if (m.close) wss.close(() => parentPort.postMessage({ closed: true }));
});
`;

type Sender = (ws: WebSocket) => Promise<void>;

const rawLoop: Sender = async (ws) => {
  for (let i = 0; i < FRAMES; i++) ws.send(FRAME);
};

const floodGenerator: Sender = async (ws) => {
  const r = await flood({ sink: wsFloodSink(ws), frame: () => FRAME, count: FRAMES, maxMs: TRIAL_TIMEOUT_MS });
  if (r.sent !== FRAMES) throw new Error(`flood sent ${r.sent} of ${FRAMES} (${r.stoppedBy})`);
};

/** Messages per second from the first send until the sink has counted every frame, on a fresh connection. */
async function trial(worker: Worker, port: number, send: Sender): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await once(ws, 'open');
  try {
    worker.postMessage({ expect: FRAMES });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the sink did not receive ${FRAMES} frames within ${TRIAL_TIMEOUT_MS} ms`)), TRIAL_TIMEOUT_MS);
      const onMessage = (m: { done?: number }) => {
        if (m.done === undefined) return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
    });
    const started = performance.now();
    await send(ws);
    await done;
    return FRAMES / ((performance.now() - started) / 1000);
  } finally {
    ws.terminate();
  }
}

/**
 * The flood generator's throughput against a raw `ws.send` loop: the same
 * frame, the same count, each on a fresh connection to a local sink, median
 * of 3 alternating runs (raw, flood, raw, flood...).
 */
export async function benchFlood(): Promise<BenchResult> {
  const worker = new Worker(SINK, { eval: true, workerData: { ws: createRequire(import.meta.url).resolve('ws') } });
  try {
    const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
    const raw: number[] = [];
    const flooded: number[] = [];
    // One untimed warm-up of each, so neither pays for JIT and the first connection.
    await trial(worker, port, rawLoop);
    await trial(worker, port, floodGenerator);
    for (let i = 0; i < RUNS; i++) {
      raw.push(await trial(worker, port, rawLoop));
      flooded.push(await trial(worker, port, floodGenerator));
    }
    const rawRate = median(raw);
    const floodRate = median(flooded);
    const ratio = floodRate / rawRate;
    return {
      figures: [
        { figure: `raw ws.send loop, ${FRAMES} frames (median of ${RUNS})`, value: Math.round(rawRate), unit: 'msg/s' },
        { figure: `flood generator, ${FRAMES} frames (median of ${RUNS})`, value: Math.round(floodRate), unit: 'msg/s' },
        { figure: 'flood / raw', value: Number(ratio.toFixed(2)), unit: 'x', goal: `>= ${RATIO_GOAL}`, pass: ratio >= RATIO_GOAL },
      ],
      notes: [
        `frame: ${FRAME.length} bytes of JSON text; sink: a ws server in a worker thread on 127.0.0.1 counting messages; time runs from the first send until the sink counted the last frame`,
        `raw (msg/s): ${raw.map(Math.round).join(', ')}; flood (msg/s): ${flooded.map(Math.round).join(', ')}`,
        'the raw loop queues every frame in memory before the first is written; the flood generator keeps at most ~1 MiB queued and stops on a count or time bound',
      ],
    };
  } finally {
    worker.postMessage({ close: true });
    await Promise.race([once(worker, 'message'), new Promise((r) => setTimeout(r, 1_000))]);
    await worker.terminate();
  }
}
