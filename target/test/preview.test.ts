import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchPreview } from '../src/preview/fetch.ts';
import { createGuard } from '../src/preview/guard.ts';
import { seed, type Seeded } from './support/seed.ts';
import { startCanary, startOrigin, type Canary, type Origin } from './support/ssrf-servers.ts';
import { startTarget, type RunningTarget } from './support/target.ts';

let canary: Canary;
let origin: Origin;
let target: RunningTarget;
let user: Seeded;

beforeAll(async () => {
  [canary, origin] = await Promise.all([startCanary(), startOrigin()]);
  target = await startTarget({ env: { PREVIEW_TEST_ALLOW_ORIGINS: origin.url } });
  user = await seed(target);
});

afterAll(async () => {
  await Promise.allSettled([target?.close(), canary?.close(), origin?.close()]);
});

async function preview(url: string, token: string | null = user.token) {
  const res = await fetch(`${target.url}/previews`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ url }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('POST /previews on the clean target', () => {
  it('returns the title of an allowed page', async () => {
    const res = await preview(`${origin.url}/`);
    expect(res).toEqual({ status: 200, body: { url: `${origin.url}/`, title: 'Public & allowed page', status: 200 } });
  });

  it('follows a redirect that stays on an allowed origin', async () => {
    const res = await preview(`${origin.url}/to?u=/`);
    expect(res.status).toBe(200);
    expect(res.body.title).toBe('Public & allowed page');
  });

  it('caps the title at 200 characters and the body at 256 KiB', async () => {
    const res = await preview(`${origin.url}/big`);
    expect(res.status).toBe(200);
    expect(res.body.title).toBe('x'.repeat(200));
  });

  it('gives up after 3 redirects with 502 fetch_failed', async () => {
    const res = await preview(`${origin.url}/loop`);
    expect(res.status).toBe(502);
    expect(res.body.error).toBe('fetch_failed');
  });

  it('gives up on a page that does not finish within 3 s with 502 fetch_failed', async () => {
    const started = Date.now();
    const res = await preview(`${origin.url}/slow`);
    expect(res).toMatchObject({ status: 502, body: { error: 'fetch_failed' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('needs a token', async () => {
    expect((await preview(`${origin.url}/`, null)).status).toBe(401);
  });

  it('rejects a URL over 2048 characters and a missing url as validation_failed', async () => {
    const res = await preview(`${origin.url}/?q=${'a'.repeat(2048)}`);
    expect(res).toMatchObject({ status: 400, body: { error: 'validation_failed' } });
  });

  it.each(['file:///etc/passwd', 'gopher://127.0.0.1:70/', 'not a url'])('rejects %s as url_not_allowed', async (url) => {
    expect(await preview(url)).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
  });

  describe('every encoding of loopback and private addresses is refused before any connection', () => {
    // Only loopback (the canary) or addresses refused before connecting: the suite never sends traffic off the host.
    const encodings = (port: number) => [
      `http://127.0.0.1:${port}/`,
      `http://2130706433:${port}/`,
      `http://0x7f000001:${port}/`,
      `http://017700000001:${port}/`,
      `http://127.1:${port}/`,
      `http://0177.0.0.1:${port}/`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://[::ffff:7f00:1]:${port}/`,
      `http://[::127.0.0.1]:${port}/`,
      `http://[64:ff9b::7f00:1]:${port}/`,
      `http://[2002:7f00:1::]:${port}/`,
      `http://localhost:${port}/`,
      `http://LOCALHOST.:${port}/`,
      `http://0.0.0.0:${port}/`,
      `http://0:${port}/`,
      `http://10.0.0.1:${port}/`,
      `http://172.16.0.1:${port}/`,
      `http://192.168.1.1:${port}/`,
      'http://169.254.169.254/latest/meta-data/',
      `http://100.64.0.1:${port}/`,
      `http://198.18.0.1:${port}/`,
      `http://224.0.0.1:${port}/`,
      `http://255.255.255.255:${port}/`,
      `http://[fe80::1]:${port}/`,
      `http://[fc00::1]:${port}/`,
      `http://[fec0::1]:${port}/`,
      'http://[fd00:ec2::254]/latest/meta-data/',
      `http://user:pw@127.0.0.1:${port}/`,
      `https://127.0.0.1:${port}/`,
    ];

    it('answers 400 url_not_allowed for each, and the canary sees nothing', async () => {
      const urls = encodings(canary.port);
      const results = await Promise.all(urls.map(async (url) => ({ url, ...(await preview(url)) })));
      for (const r of results) expect(r, r.url).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
      expect(canary.hits).toEqual([]);
    });
  });

  it('refuses a redirect from an allowed origin to the canary, and the canary sees nothing', async () => {
    const res = await preview(`${origin.url}/to?u=${encodeURIComponent(`${canary.url}/via-redirect`)}`);
    expect(res).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
    expect(canary.hits).toEqual([]);
  });

  it('refuses a redirect to the canary written as a decimal IPv4 host', async () => {
    const res = await preview(`${origin.url}/to?u=${encodeURIComponent(`http://2130706433:${canary.port}/`)}`);
    expect(res).toMatchObject({ status: 400, body: { error: 'url_not_allowed' } });
    expect(canary.hits).toEqual([]);
  });
});

describe('the guard and the fetch', () => {
  it('refuses a host when any one of its addresses is private', async () => {
    const guard = createGuard({ allowOrigins: [], resolve: async () => [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }] });
    await expect(guard('http://mixed.example/')).rejects.toMatchObject({ status: 400, code: 'url_not_allowed' });
  });

  it('refuses a host that resolves to an IPv4-mapped loopback address', async () => {
    const guard = createGuard({ allowOrigins: [], resolve: async () => [{ address: '::ffff:127.0.0.1', family: 6 }] });
    await expect(guard('http://mapped.example/')).rejects.toMatchObject({ status: 400, code: 'url_not_allowed' });
  });

  it('connects to the vetted address without resolving the host again (no DNS rebinding)', async () => {
    const port = Number(new URL(origin.url).port);
    // `.invalid` never resolves: the page can only be reached through the pinned address.
    const pinned = { url: new URL(`http://rebind.invalid:${port}/`), address: '127.0.0.1', family: 4 as const };
    const res = await fetchPreview('http://rebind.invalid/', { vetInitial: async () => pinned, vetRedirect: async () => Promise.reject(new Error('no redirect expected')) });
    expect(res).toMatchObject({ status: 200, title: 'Public & allowed page' });
  });
});
