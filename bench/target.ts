import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { freePort, startInfra } from '../target/test/support/infra.ts';
import { median, type BenchResult } from './types.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNS = 3;
const CONNECTIONS = 50;
const DURATION_S = 10;
const P95_GOAL_MS = 20;

interface Histogram {
  getValueAtPercentile(p: number): number;
}
const { decodeHist } = createRequire(import.meta.url)('autocannon/lib/histUtil.js') as { decodeHist(s: string): Histogram };

interface RunFigures {
  p50: number;
  p95: number;
  rps: number;
  non2xx: number;
  errors: number;
}

/** Starts the target as operators do, as a child process, and waits until /readyz says ready. */
async function startTargetProcess(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  const port = await freePort();
  let stderr = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'target/src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the target exited with code ${child.exitCode} before it was ready: ${stderr.trim()}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return { url, child, stderr: () => stderr };
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the target was not ready within 30 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function call<T>(url: string, method: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${new URL(url).pathname} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** A user, a tenant and a channel, made through the public API (API.md). */
async function seed(base: string): Promise<{ token: string; path: string }> {
  const email = `bench-${randomUUID()}@example.test`;
  const password = `bench-${randomUUID()}`;
  await call(`${base}/auth/register`, 'POST', { email, password, displayName: 'Bench' });
  const { accessToken } = await call<{ accessToken: string }>(`${base}/auth/login`, 'POST', { email, password });
  const { tenantId } = await call<{ tenantId: string }>(`${base}/tenants`, 'POST', { name: 'bench' }, accessToken);
  const { channelId } = await call<{ channelId: string }>(`${base}/tenants/${tenantId}/channels`, 'POST', { name: 'bench' }, accessToken);
  return { token: accessToken, path: `/tenants/${tenantId}/channels/${channelId}/messages` };
}

async function load(url: string, token: string, connections: number, duration: number): Promise<RunFigures> {
  const r = await autocannon({
    url,
    connections,
    duration,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ body: 'bench message' }),
    skipAggregateResult: true,
  });
  const h = decodeHist(r.latencies);
  return { p50: h.getValueAtPercentile(50), p95: h.getValueAtPercentile(95), rps: r.totalCompletedRequests / r.duration, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

/**
 * Message-post latency of the reference target: real Postgres and Redis, the
 * target as a child process, `POST /tenants/:tid/channels/:cid/messages` under
 * 50 connections for 10 s, three times; reports the medians. Goal: p95 < 20 ms.
 */
export async function benchTarget(): Promise<BenchResult> {
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    const errors: string[] = [];
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((e: Error) => errors.push(e.message));
    if (errors.length) process.stderr.write(`bench target: teardown errors: ${errors.join('; ')}\n`);
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const load1 = loadavg()[0]!.toFixed(1);
  try {
    const infra = await startInfra();
    cleanups.push(() => infra.stop());
    const target = await startTargetProcess({ DATABASE_URL: infra.databaseUrl, REDIS_URL: infra.redisUrl, JWT_SECRET: randomUUID() + randomUUID() });
    cleanups.push(() => stopProcess(target.child));
    const { token, path } = await seed(target.url);
    const url = target.url + path;
    // Warm-up (JIT, pools, caches); its figures are discarded.
    await load(url, token, 10, 2);
    const runs: RunFigures[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await load(url, token, CONNECTIONS, DURATION_S));
    if (target.child.exitCode !== null) throw new Error(`the target died during the bench: ${target.stderr().trim()}`);
    const p95 = median(runs.map((r) => r.p95));
    return {
      figures: [
        { figure: 'POST message p50', value: median(runs.map((r) => r.p50)), unit: 'ms' },
        { figure: 'POST message p95', value: p95, unit: 'ms', goal: `< ${P95_GOAL_MS}`, pass: p95 < P95_GOAL_MS },
        { figure: 'POST message throughput', value: Math.round(median(runs.map((r) => r.rps))), unit: 'req/s' },
        { figure: 'non-2xx + errors (all runs)', value: runs.reduce((n, r) => n + r.non2xx + r.errors, 0), unit: 'responses', goal: '= 0', pass: runs.every((r) => r.non2xx + r.errors === 0) },
      ],
      notes: [
        `${RUNS} runs of ${CONNECTIONS} connections x ${DURATION_S} s after a 2 s warm-up; medians of the per-run figures.`,
        'p50/p95 are read from autocannon\'s HDR latency histogram (2xx responses only, 1 ms resolution).',
        `host: ${availableParallelism()} CPUs, 1-min load ${load1} at start; autocannon, the target, Postgres and Redis share them, so a busy host inflates latency.`,
        `per run p95 (ms): ${runs.map((r) => r.p95).join(', ')}; req/s: ${runs.map((r) => Math.round(r.rps)).join(', ')}`,
      ],
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { printResults } = await import('./print.ts');
  const result = await benchTarget().catch((err: Error) => {
    process.stderr.write(`bench target: ${err.message}\n`);
    process.exit(1);
  });
  printResults([{ name: 'target', result }]);
}
