import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGuard, loopbackOnlyReason } from '../src/preview/guard.ts';
import { seed, type Seeded } from './support/seed.ts';
import { startCanary, startOrigin, type Canary, type Origin } from './support/ssrf-servers.ts';
import { startTarget, type RunningTarget } from './support/target.ts';

// Every URL here is loopback: a flawed target fetches whatever it is given, so nothing may point off the host.
let canary: Canary;
let origin: Origin;
let clean: RunningTarget;
let noGuard: RunningTarget;
let followRedirect: RunningTarget;
let loopbackOnly: RunningTarget;
const tokens = new Map<RunningTarget, Seeded>();

beforeAll(async () => {
  [canary, origin] = await Promise.all([startCanary(), startOrigin()]);
  const env = { PREVIEW_TEST_ALLOW_ORIGINS: origin.url };
  [clean, noGuard, followRedirect, loopbackOnly] = await Promise.all([
    startTarget({ env }),
    startTarget({ env, flaws: ['ssrf-no-guard'] }),
    startTarget({ env, flaws: ['ssrf-follow-redirect'] }),
    startTarget({ env, flaws: ['ssrf-loopback-only'] }),
  ]);
  for (const t of [clean, noGuard, followRedirect, loopbackOnly]) tokens.set(t, await seed(t));
});

afterAll(async () => {
  await Promise.allSettled([clean?.close(), noGuard?.close(), followRedirect?.close(), loopbackOnly?.close(), canary?.close(), origin?.close()]);
});

beforeEach(() => {
  canary.hits.length = 0;
});

async function preview(target: RunningTarget, url: string) {
  const res = await fetch(`${target.url}/previews`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(target)!.token}` },
    body: JSON.stringify({ url }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const direct = () => `${canary.url}/direct`;
const viaRedirect = () => `${origin.url}/to?u=${encodeURIComponent(`${canary.url}/via-redirect`)}`;

describe('ssrf-no-guard', () => {
  it('flawed: fetches the loopback canary directly', async () => {
    const res = await preview(noGuard, direct());
    expect(res).toMatchObject({ status: 200, body: { title: 'canary reached' } });
    expect(canary.hits).toEqual(['/direct']);
  });

  it('flawed: reaches the canary through a decimal-encoded host', async () => {
    const res = await preview(noGuard, `http://2130706433:${canary.port}/decimal`);
    expect(res.status).toBe(200);
    expect(canary.hits).toEqual(['/decimal']);
  });

  it('clean: refuses the same URLs and the canary sees nothing', async () => {
    expect((await preview(clean, direct())).body.error).toBe('url_not_allowed');
    expect((await preview(clean, `http://2130706433:${canary.port}/decimal`)).body.error).toBe('url_not_allowed');
    expect(canary.hits).toEqual([]);
  });
});

describe('ssrf-follow-redirect', () => {
  it('flawed: still refuses the canary URL itself', async () => {
    expect(await preview(followRedirect, direct())).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
    expect(canary.hits).toEqual([]);
  });

  it('flawed: follows a redirect from an allowed origin into the canary', async () => {
    const res = await preview(followRedirect, viaRedirect());
    expect(res).toMatchObject({ status: 200, body: { title: 'canary reached' } });
    expect(canary.hits).toEqual(['/via-redirect']);
  });

  it('clean: refuses the redirect hop and the canary sees nothing', async () => {
    expect(await preview(clean, viaRedirect())).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
    expect(canary.hits).toEqual([]);
  });
});

/** Whether this process's network namespace has loopback alone (`npm test` runs sealed): only then may a flawed target be handed an off-host address. */
const sealed = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).join() === 'lo';

describe('ssrf-loopback-only', () => {
  const OFF_HOST = ['http://10.0.0.1/', 'http://192.168.0.1/', 'http://172.16.0.1/', 'http://100.64.0.1/', 'http://169.254.169.254/latest/meta-data'];
  // The guard alone connects to nothing, so its verdict on off-host addresses can be checked anywhere.
  const resolve = async () => [];
  const flawedGuard = createGuard({ allowOrigins: [], reasonFor: loopbackOnlyReason, resolve });
  const cleanGuard = createGuard({ allowOrigins: [], resolve });

  it('flawed: the guard passes private, CGNAT and metadata addresses', async () => {
    for (const url of OFF_HOST) await expect(flawedGuard(url), url).resolves.toMatchObject({ address: new URL(url).hostname });
  });

  it('clean: the guard refuses them', async () => {
    for (const url of OFF_HOST) await expect(cleanGuard(url), url).rejects.toMatchObject({ status: 400, code: "url_not_allowed" });
  });

  it('flawed: still refuses every loopback form', async () => {
    for (const url of [direct(), `http://2130706433:${canary.port}/decimal`, `http://[::ffff:127.0.0.1]:${canary.port}/`, `http://localhost:${canary.port}/`]) {
      expect(await preview(loopbackOnly, url), url).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
    }
    expect(canary.hits).toEqual([]);
  });

  it.skipIf(!sealed)('flawed: the route tries to fetch a private address (sealed: the connect fails before any packet leaves)', async () => {
    const res = await preview(loopbackOnly, 'http://10.0.0.1/');
    expect(res.body.error).not.toBe('url_not_allowed');
    expect(res.status).toBe(502);
  });

  it('clean: the route refuses a private address before connecting', async () => {
    expect(await preview(clean, 'http://10.0.0.1/')).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
  });
});
