import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seed, type Seeded } from './support/seed.ts';
import { startCanary, startOrigin, type Canary, type Origin } from './support/ssrf-servers.ts';
import { startTarget, type RunningTarget } from './support/target.ts';

// Every URL here is loopback: a flawed target fetches whatever it is given, so nothing may point off the host.
let canary: Canary;
let origin: Origin;
let clean: RunningTarget;
let noGuard: RunningTarget;
let followRedirect: RunningTarget;
const tokens = new Map<RunningTarget, Seeded>();

beforeAll(async () => {
  [canary, origin] = await Promise.all([startCanary(), startOrigin()]);
  const env = { PREVIEW_TEST_ALLOW_ORIGINS: origin.url };
  [clean, noGuard, followRedirect] = await Promise.all([
    startTarget({ env }),
    startTarget({ env, flaws: ['ssrf-no-guard'] }),
    startTarget({ env, flaws: ['ssrf-follow-redirect'] }),
  ]);
  for (const t of [clean, noGuard, followRedirect]) tokens.set(t, await seed(t));
});

afterAll(async () => {
  await Promise.allSettled([clean?.close(), noGuard?.close(), followRedirect?.close(), canary?.close(), origin?.close()]);
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
