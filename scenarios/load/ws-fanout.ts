/**
 * WebSocket fan-out of the reference chat service: SUBSCRIBERS sockets sit in
 * one channel while senders post messages over HTTP; every subscriber gets
 * every message. `ws_delivery_ms` is the send-to-receive time (the send time
 * rides in the message body), `ws_reconnect_success` the share of reconnects
 * that got subscribed again. Each subscriber iteration holds its socket for
 * HOLD and then closes it, so every iteration is bounded and every VU
 * reconnects.
 *
 * Stock k6 runs it on its own:
 *   BASE_URL=http://127.0.0.1:PORT WS_URL=ws://127.0.0.1:PORT/ws k6 run scenarios/load/ws-fanout.ts
 * Env: BASE_URL (required), WS_URL (BASE_URL with ws: and /ws), DURATION ('30s'),
 * SUBSCRIBERS (10 VUs), RATE (5 messages/s), USERS (4), HOLD ('3s'),
 * SUBSCRIBE_TIMEOUT ('2s'), REQUEST_TIMEOUT ('5s'), ABORT_ON_FAIL ('true').
 */
import { check } from 'k6';
import exec from 'k6/execution';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { clearTimeout, setTimeout } from 'k6/timers';
import { WebSocket, type MessageEvent } from 'k6/websockets';

const BASE_URL = (__ENV.BASE_URL ?? '').replace(/\/+$/, '');
const WS_URL = __ENV.WS_URL || `${BASE_URL.replace(/^http/, 'ws')}/ws`;
const DURATION = __ENV.DURATION || '30s';
const SUBSCRIBERS = positiveInt('SUBSCRIBERS', 10);
const RATE = positiveInt('RATE', 5);
const USERS = positiveInt('USERS', 4);
const HOLD_MS = durationMs('HOLD', '3s');
const SUBSCRIBE_TIMEOUT_MS = durationMs('SUBSCRIBE_TIMEOUT', '2s');
const REQUEST_TIMEOUT = __ENV.REQUEST_TIMEOUT || '5s';
const ABORT_ON_FAIL = (__ENV.ABORT_ON_FAIL ?? 'true') !== 'false';

/** WebSocket.OPEN: @types/k6 declares the readyState constants, but k6 1.8 leaves them undefined at runtime. */
const OPEN = 1;

function positiveInt(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}="${raw}" is not a positive integer`);
  return n;
}

/** A duration like '3s', '500ms' or '1m' in milliseconds. */
function durationMs(name: string, fallback: string): number {
  const raw = __ENV[name] || fallback;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw);
  if (!m) throw new Error(`${name}="${raw}" is not a duration like 500ms, 3s or 1m`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

export const options: Options = {
  scenarios: {
    subscribers: {
      executor: 'constant-vus',
      exec: 'subscribeAndMeasure',
      vus: SUBSCRIBERS,
      duration: DURATION,
      // An iteration lasts HOLD plus the closing handshake: let the last one finish.
      gracefulStop: `${Math.ceil(HOLD_MS / 1000) + 2}s`,
    },
    senders: {
      executor: 'constant-arrival-rate',
      exec: 'postMessage',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      // Subscribers get their first subscription in before the first message.
      startTime: '1s',
      preAllocatedVUs: Math.max(2, RATE),
      maxVUs: Math.max(4, 2 * RATE),
    },
  },
  thresholds: {
    // The ws-delivery-p95 SLO: a posted message reaches every subscriber within 500 ms.
    ws_delivery_ms: ['p(95)<500'],
    // The ws-reconnect-success SLO: a socket that reconnects is subscribed again.
    ws_reconnect_success: ['rate>0.99'],
    // Fan-out happened at all: a run without a single delivery measured nothing.
    ws_deliveries: ['count>0'],
    // The senders' posts succeed on a healthy target.
    'http_req_failed{scenario:senders}': ['rate<0.01'],
    // Posts commit within the http-latency-p95 SLO.
    'http_req_duration{name:post-message}': ['p(95)<250'],
    // Hard gate: when most posts fail the target is down, so stop loading it (chaos runs turn this off).
    http_req_failed: [{ threshold: 'rate<0.5', abortOnFail: ABORT_ON_FAIL, delayAbortEval: '10s' }],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

/** Send-to-receive time of each message at each subscriber. */
const deliveryMs = new Trend('ws_delivery_ms', true);
/** Messages received by subscribers. */
const deliveries = new Counter('ws_deliveries');
/** Per reconnect (every connection of a VU after its first): subscribed again within SUBSCRIBE_TIMEOUT. */
const reconnectSuccess = new Rate('ws_reconnect_success');
/** Per connection, the first one included: subscribed within SUBSCRIBE_TIMEOUT. */
const subscribeSuccess = new Rate('ws_subscribe_success');

interface Session {
  userId: string;
  token: string;
}

export interface FanoutData {
  tenantId: string;
  channelId: string;
  runTag: string;
  sessions: Session[];
}

/** What senders put in the message body. */
interface Stamp {
  run: string;
  sentAt: number;
}

function post(path: string, name: string, body: unknown, token?: string): RefinedResponse<ResponseType> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return http.post(`${BASE_URL}${path}`, JSON.stringify(body), { headers, tags: { name }, timeout: REQUEST_TIMEOUT });
}

function mustPost<T>(path: string, name: string, expect: number, body: unknown, token?: string): T {
  const res = post(path, name, body, token);
  if (res.status !== expect) {
    exec.test.abort(`setup: POST ${name} answered ${res.status} (expected ${expect}${res.error ? `, ${res.error}` : ''}); is BASE_URL=${BASE_URL} the chat service?`);
  }
  return res.json() as T;
}

/** Registers the users, logs each in once (login is limited per email), and makes one channel they all read. */
export function setup(): FanoutData {
  if (!BASE_URL) exec.test.abort('setup: BASE_URL is not set; run with BASE_URL=http://127.0.0.1:PORT');
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const password = `pw-${suffix}-${Math.random().toString(36).slice(2)}`;
  const sessions: Session[] = [];
  const emails: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const email = `load.fanout.${suffix}.${i}@example.test`;
    emails.push(email);
    const { userId } = mustPost<{ userId: string }>('/auth/register', 'setup-register', 201, { email, password, displayName: `load fanout ${i}` });
    const { accessToken } = mustPost<{ accessToken: string }>('/auth/login', 'setup-login', 200, { email, password });
    sessions.push({ userId, token: accessToken });
  }
  const owner = sessions[0]!.token;
  const { tenantId } = mustPost<{ tenantId: string }>('/tenants', 'setup-tenant', 201, { name: `load fanout ${suffix}` }, owner);
  for (let i = 1; i < USERS; i++) mustPost(`/tenants/${tenantId}/members`, 'setup-member', 201, { email: emails[i], role: 'member' }, owner);
  const { channelId } = mustPost<{ channelId: string }>(`/tenants/${tenantId}/channels`, 'setup-channel', 201, { name: `fanout-${suffix}` }, owner);
  return { tenantId, channelId, runTag: suffix, sessions };
}

function parseFrame(data: unknown): { type?: string; channelId?: string; message?: { body?: string } } | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

function stampOf(body: string | undefined, runTag: string): Stamp | undefined {
  if (!body) return undefined;
  try {
    const stamp = JSON.parse(body) as Stamp;
    return stamp.run === runTag && typeof stamp.sentAt === 'number' ? stamp : undefined;
  } catch {
    return undefined;
  }
}

/** Connects, subscribes to the channel, records every delivery for HOLD, then closes. */
export function subscribeAndMeasure(data: FanoutData): void {
  // Users are shared round-robin: the socket rate limit is per user, and each connection spends one frame.
  const session = data.sessions[(exec.vu.idInTest - 1) % data.sessions.length]!;
  const reconnect = exec.vu.iterationInScenario > 0;
  const ws = new WebSocket(WS_URL, null, { headers: { authorization: `Bearer ${session.token}` }, tags: { name: 'ws-subscribe' } });
  let subscribed = false;
  let settled = false;
  const settle = (ok: boolean): void => {
    if (settled) return;
    settled = true;
    subscribeSuccess.add(ok);
    if (reconnect) reconnectSuccess.add(ok);
  };
  const subscribeTimer = setTimeout(() => settle(false), SUBSCRIBE_TIMEOUT_MS);
  let holdOver = false;
  // Bounded: the socket closes after HOLD. close() on a socket that is still
  // CONNECTING blocks the VU for good in k6 1.8 (it waits on the writer that
  // only an open socket starts), so a hung handshake is left to the scenario's
  // gracefulStop, which cancels the dial.
  const holdTimer = setTimeout(() => {
    holdOver = true;
    settle(subscribed);
    if (ws.readyState === OPEN) ws.close(1000, 'hold over');
  }, HOLD_MS);

  ws.onopen = () => {
    if (holdOver) {
      ws.close(1000, 'hold over');
      return;
    }
    ws.send(JSON.stringify({ type: 'subscribe', channelId: data.channelId, ref: `sub-${exec.vu.idInTest}-${exec.vu.iterationInScenario}` }));
  };
  ws.onmessage = (event?: MessageEvent) => {
    const frame = parseFrame(event?.data);
    if (frame?.type === 'subscribed' && frame.channelId === data.channelId) {
      subscribed = true;
      clearTimeout(subscribeTimer);
      settle(true);
    } else if (frame?.type === 'message' && frame.channelId === data.channelId) {
      const stamp = stampOf(frame.message?.body, data.runTag);
      if (!stamp) return;
      deliveries.add(1);
      deliveryMs.add(Date.now() - stamp.sentAt);
    }
  };
  ws.onerror = () => {
    clearTimeout(subscribeTimer);
    settle(false);
  };
  ws.onclose = () => {
    clearTimeout(subscribeTimer);
    clearTimeout(holdTimer);
    settle(subscribed);
  };
}

/** Posts one message that carries its send time; subscribers measure its delivery. */
export function postMessage(data: FanoutData): void {
  const session = data.sessions[exec.scenario.iterationInTest % data.sessions.length]!;
  const stamp: Stamp = { run: data.runTag, sentAt: Date.now() };
  const res = post(`/tenants/${data.tenantId}/channels/${data.channelId}/messages`, 'post-message', { body: JSON.stringify(stamp) }, session.token);
  check(res, { 'post-message 201': (r) => r.status === 201 });
}
