import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import referenceChat from '../../profiles/reference-chat.ts';
import type { StackDefinition } from '../../harness/config/target.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';
import { eventually, statusOf } from '../helpers/timing.ts';

const ROOT = join(import.meta.dirname, '../..');
const out = () => mkdtempSync(join(tmpdir(), 'bw-test-out-'));
const runId = (tag: string) => `t${tag}${randomBytes(3).toString('hex')}`;

async function timed(url: string): Promise<number> {
  const t = performance.now();
  await statusOf(url);
  return performance.now() - t;
}

describe('local provider lifecycle', () => {
  test('starts and stops 5 times leaving no process, port or temp dir behind', async () => {
    for (let i = 0; i < 5; i++) {
      const id = runId(`cycle${i}`);
      const stack = await startLocalStack(referenceChat.stack, { runId: id, outDir: out(), rootDir: ROOT });
      expect(await statusOf(`${stack.info.baseUrl}/readyz`)).toBe(200);
      const stopped = await stack.stop();
      expect(stopped.teardownErrors).toEqual([]);
      expect(stopped.incidents).toEqual([]);
      await expectNothingLeft(id, stack.info);
    }
  });

  test('a failed start removes what it had started and rethrows the cause', async () => {
    const id = runId('fail');
    const broken: StackDefinition = structuredClone({ ...referenceChat.stack, services: { ...referenceChat.stack.services } });
    broken.services.app = { kind: 'process', command: [process.execPath, '-e', 'console.error("boom: cannot start"); process.exit(7)'], health: { path: '/readyz', timeoutMs: 10_000 } };
    const started = startLocalStack(broken, { runId: id, outDir: out(), rootDir: ROOT });
    await expect(started).rejects.toMatchObject({ code: 'BW_STACK_START_FAILED', message: expect.stringMatching(/service "app" exited during start \(code 7\): boom: cannot start/) });
    await expectNothingLeft(id);
  });

  test('stop() is idempotent and dispose works with await using', async () => {
    const id = runId('dispose');
    let info;
    {
      await using stack = await startLocalStack(referenceChat.stack, { runId: id, outDir: out(), rootDir: ROOT });
      info = stack.info;
      const [a, b] = await Promise.all([stack.stop(), stack.stop()]);
      expect(a).toBe(b);
    }
    await expectNothingLeft(id, info);
  });
});

describe('links and faults on one started stack', () => {
  let stack: StartedStack;
  const id = runId('faults');
  beforeAll(async () => {
    stack = await startLocalStack(referenceChat.stack, { runId: id, outDir: out(), rootDir: ROOT });
  });
  afterAll(async () => {
    const info = stack?.info;
    await stack?.stop();
    await expectNothingLeft(id, info);
  });

  test('every declared link is a Toxiproxy proxy and the app reaches its data through them', async () => {
    expect(Object.keys(stack.info.links).sort()).toEqual(['app-postgres', 'app-redis', 'client-app']);
    const proxies = (await (await fetch(`${stack.info.toxiproxyUrl}/proxies`)).json()) as Record<string, { listen: string; upstream: string }>;
    for (const link of Object.values(stack.info.links)) {
      expect(proxies[link.name]).toMatchObject({ listen: link.listen, upstream: link.upstream });
    }
    expect(stack.info.baseUrl).toBe(`http://${stack.info.links['client-app']!.listen}`);
  });

  test('a latency toxic on client-app slows requests by its amount', async () => {
    const url = `${stack.info.baseUrl}/healthz`;
    const before = await timed(url);
    await stack.toxiproxy!.addToxic('client-app', 'lat', { type: 'latency', stream: 'downstream', attributes: { latency: 300, jitter: 0 } });
    const during = await timed(url);
    await stack.toxiproxy!.removeToxic('client-app', 'lat');
    expect(during - before).toBeGreaterThan(250);
    expect(await stack.toxiproxy!.leftovers()).toEqual({ toxics: [], disabled: [] });
  });

  test('taking app-postgres or app-redis down is seen by the app, and it recovers', async () => {
    const ready = `${stack.info.baseUrl}/readyz`;
    for (const link of ['app-postgres', 'app-redis']) {
      await stack.toxiproxy!.setEnabled(link, false);
      expect(await eventually(async () => (await statusOf(ready)) === 503, 8000), `${link} down not seen`).toBe(true);
      await stack.toxiproxy!.setEnabled(link, true);
      expect(await eventually(async () => (await statusOf(ready)) === 200, 15_000), `${link} recovery not seen`).toBe(true);
    }
  });

  test('kill, restart, pause and resume act on the real processes', async () => {
    const ready = `${stack.info.baseUrl}/readyz`;
    await stack.processes!.pause('postgres');
    expect(await eventually(async () => (await statusOf(ready, 4000)) === 503, 8000)).toBe(true);
    await stack.processes!.resume('postgres');
    expect(await eventually(async () => (await statusOf(ready)) === 200, 10_000)).toBe(true);

    await stack.processes!.kill('app');
    expect(await statusOf(ready)).not.toBe(200);
    await stack.processes!.restart('app');
    expect(await statusOf(ready)).toBe(200);
    expect(stack.incidents()).toEqual([]);
  });

  test('a service that dies on its own is recorded as an incident', async () => {
    process.kill(stack.info.services.redis!.pid!, 'SIGKILL');
    expect(await eventually(() => stack.incidents().some((i) => i.service === 'redis' && i.unexpected), 5000)).toBe(true);
    await stack.processes!.restart('redis');
    expect(await eventually(async () => (await statusOf(`${stack.info.baseUrl}/readyz`)) === 200, 15_000)).toBe(true);
  });
});
