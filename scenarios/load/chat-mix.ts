/**
 * The API mix of the reference chat service at a constant arrival rate:
 * list channels, read messages, post messages, GET /me.
 *
 * Stock k6 runs it on its own:
 *   BASE_URL=http://127.0.0.1:PORT k6 run scenarios/load/chat-mix.ts
 * Env: BASE_URL (required), DURATION ('30s'), RATE (40 iterations/s), VUS (20
 * pre-allocated), MAX_VUS (2 x VUS), USERS (4), CHANNELS (3),
 * REQUEST_TIMEOUT ('5s'), ABORT_ON_FAIL ('true'; chaos runs set 'false').
 */
import { check } from 'k6';
import exec from 'k6/execution';
import http, { type RefinedParams, type RefinedResponse, type ResponseType } from 'k6/http';
import type { Options } from 'k6/options';

const BASE_URL = (__ENV.BASE_URL ?? '').replace(/\/+$/, '');
const DURATION = __ENV.DURATION || '30s';
const RATE = positiveInt('RATE', 40);
const VUS = positiveInt('VUS', 20);
const MAX_VUS = positiveInt('MAX_VUS', 2 * VUS);
const USERS = positiveInt('USERS', 4);
const CHANNELS = positiveInt('CHANNELS', 3);
const REQUEST_TIMEOUT = __ENV.REQUEST_TIMEOUT || '5s';
const ABORT_ON_FAIL = (__ENV.ABORT_ON_FAIL ?? 'true') !== 'false';

function positiveInt(name: string, fallback: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}="${raw}" is not a positive integer`);
  return n;
}

export const options: Options = {
  scenarios: {
    chat_mix: {
      executor: 'constant-arrival-rate',
      exec: 'browseAndPost',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: Math.max(VUS, MAX_VUS),
    },
  },
  thresholds: {
    // The http-latency-p95 SLO (250 ms) over the mix, without the setup's registrations and logins.
    'http_req_duration{scenario:chat_mix}': ['p(95)<250'],
    // Posting commits to Postgres and fans out through Redis: the slowest route must still answer in time.
    'http_req_duration{name:post-message}': ['p(95)<400'],
    // The http-error-rate SLO: under 1% of the mix fails on a healthy target.
    'http_req_failed{scenario:chat_mix}': ['rate<0.01'],
    // Hard gate: when most requests fail the target is down, so stop loading it (chaos runs turn this off).
    http_req_failed: [{ threshold: 'rate<0.5', abortOnFail: ABORT_ON_FAIL, delayAbortEval: '10s' }],
    // Every response has the status and shape its route promises.
    checks: ['rate>0.99'],
  },
  // The summary shows what the thresholds judge.
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

interface Session {
  userId: string;
  token: string;
}

export interface ChatMixData {
  tenantId: string;
  channelIds: string[];
  sessions: Session[];
}

type Method = 'GET' | 'POST';

function params(name: string, token?: string): RefinedParams<'text'> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return { headers, tags: { name }, timeout: REQUEST_TIMEOUT, responseType: 'text' };
}

function request(method: Method, path: string, name: string, body: unknown, token?: string): RefinedResponse<ResponseType> {
  return http.request(method, `${BASE_URL}${path}`, body === undefined ? null : JSON.stringify(body), params(name, token));
}

/** One setup call that must succeed: anything else aborts the test, naming the route and the status. */
function mustCall<T>(method: Method, path: string, name: string, expect: number, body: unknown, token?: string): T {
  const res = request(method, path, name, body, token);
  if (res.status !== expect) {
    exec.test.abort(`setup: ${method} ${name} answered ${res.status} (expected ${expect}${res.error ? `, ${res.error}` : ''}); is BASE_URL=${BASE_URL} the chat service?`);
  }
  return res.json() as T;
}

/** Registers the users, logs each in once (login is limited per email), and builds a tenant with channels. */
export function setup(): ChatMixData {
  if (!BASE_URL) exec.test.abort('setup: BASE_URL is not set; run with BASE_URL=http://127.0.0.1:PORT');
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const password = `pw-${suffix}-${Math.random().toString(36).slice(2)}`;
  const sessions: Session[] = [];
  const emails: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const email = `load.mix.${suffix}.${i}@example.test`;
    emails.push(email);
    const { userId } = mustCall<{ userId: string }>('POST', '/auth/register', 'setup-register', 201, { email, password, displayName: `load mix ${i}` });
    const { accessToken } = mustCall<{ accessToken: string }>('POST', '/auth/login', 'setup-login', 200, { email, password });
    sessions.push({ userId, token: accessToken });
  }
  const owner = sessions[0]!.token;
  const { tenantId } = mustCall<{ tenantId: string }>('POST', '/tenants', 'setup-tenant', 201, { name: `load mix ${suffix}` }, owner);
  for (let i = 1; i < USERS; i++) {
    mustCall('POST', `/tenants/${tenantId}/members`, 'setup-member', 201, { email: emails[i], role: 'member' }, owner);
  }
  const channelIds: string[] = [];
  for (let i = 0; i < CHANNELS; i++) {
    const { channelId } = mustCall<{ channelId: string }>('POST', `/tenants/${tenantId}/channels`, 'setup-channel', 201, { name: `load-${suffix}-${i}` }, owner);
    channelIds.push(channelId);
    mustCall('POST', `/tenants/${tenantId}/channels/${channelId}/messages`, 'setup-message', 201, { body: `first message of load-${suffix}-${i}` }, owner);
  }
  return { tenantId, channelIds, sessions };
}

/** The response body as JSON, or undefined when there is none (a timeout, a reset) or it is not JSON. */
function jsonOf<T>(res: RefinedResponse<ResponseType>): T | undefined {
  try {
    return res.json() as T;
  } catch {
    return undefined;
  }
}

function pick<T>(items: T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

/** One user action, weighted like a chat client: read 40%, list 25%, post 25%, profile 10%. */
export function browseAndPost(data: ChatMixData): void {
  const session = data.sessions[(exec.vu.idInTest - 1) % data.sessions.length]!;
  const channelId = pick(data.channelIds);
  const tenant = `/tenants/${data.tenantId}`;
  const roll = Math.random();
  if (roll < 0.4) {
    const res = request('GET', `${tenant}/channels/${channelId}/messages?limit=20`, 'read-messages', undefined, session.token);
    check(res, { 'read-messages 200 with items': (r) => r.status === 200 && Array.isArray(jsonOf<{ items?: unknown }>(r)?.items) });
  } else if (roll < 0.65) {
    const res = request('GET', `${tenant}/channels`, 'list-channels', undefined, session.token);
    check(res, { 'list-channels 200 with items': (r) => r.status === 200 && Array.isArray(jsonOf<{ items?: unknown }>(r)?.items) });
  } else if (roll < 0.9) {
    const body = `load ${exec.scenario.iterationInTest} at ${Date.now()}`;
    const res = request('POST', `${tenant}/channels/${channelId}/messages`, 'post-message', { body }, session.token);
    check(res, { 'post-message 201': (r) => r.status === 201 });
  } else {
    const res = request('GET', '/me', 'me', undefined, session.token);
    check(res, { 'me 200 for the caller': (r) => r.status === 200 && jsonOf<{ userId?: string }>(r)?.userId === session.userId });
  }
}
