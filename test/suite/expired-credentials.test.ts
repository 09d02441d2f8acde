import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetProfile } from '../../harness/config/target.ts';
import type { ProvidedRun } from '../../harness/suite/provided.ts';
import { createTargetContext, expiryOf } from '../../harness/suite/use-target.ts';

/** An unsigned JWT-shaped token that expires at `exp` (epoch seconds). */
const token = (exp: number) => ['{"alg":"HS256"}', JSON.stringify({ sub: 'alice', exp })].map((p) => Buffer.from(p).toString('base64url')).join('.') + '.sig';

/**
 * A principal's token can run out in the middle of a long run. A 401 for a
 * credential that has expired means: log in again and ask once more. A 401
 * for a fresh credential is a real denial and stays one.
 */
describe('expired credentials are not denials', () => {
  let server: Server;
  let base: string;
  let lifetimeSeconds = 1;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/login') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: token(Date.now() / 1000 + lifetimeSeconds) }));
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const exp = bearer ? JSON.parse(Buffer.from(bearer.split('.')[1]!, 'base64url').toString()).exp : 0;
      if (req.url === '/forbidden') return res.writeHead(401).end();
      res.writeHead(exp * 1000 > Date.now() ? 200 : 401).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const context = () => {
    let logins = 0;
    const ctx = createTargetContext({ stack: { baseUrl: base }, secrets: [], world: {}, runId: 't' } as unknown as ProvidedRun, {
      name: 't',
      deny: { statuses: [401, 403] },
      resources: {},
      principals: {
        alice: {
          tenant: 'a',
          role: 'member',
          kind: 'user',
          async login({ baseUrl }: { baseUrl: string }) {
            logins++;
            const { token: t } = (await (await fetch(`${baseUrl}/login`)).json()) as { token: string };
            return { headers: { authorization: `Bearer ${t}` } };
          },
        },
      },
    } as unknown as TargetProfile);
    return { ctx, logins: () => logins };
  };

  it('reads the expiry of a JWT in a header or a cookie, and nothing from an opaque one', () => {
    expect(expiryOf({ headers: { authorization: `Bearer ${token(100)}` } })).toBe(100_000);
    expect(expiryOf({ cookies: { session: token(200) } })).toBe(200_000);
    expect(expiryOf({ cookies: { sid: 'opaque-session-id' } })).toBeUndefined();
  });

  it('a token that expired mid-run: logged in again, and the request is answered, not denied', async () => {
    lifetimeSeconds = 1;
    const { ctx, logins } = context();
    expect((await ctx.request('alice', { method: 'GET', path: '/thing' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1200));
    expect((await ctx.request('alice', { method: 'GET', path: '/thing' })).status).toBe(200);
    expect(logins()).toBe(2);
  });

  it('a fresh token refused is a real denial: no second login, the 401 stands', async () => {
    lifetimeSeconds = 600;
    const { ctx, logins } = context();
    expect((await ctx.request('alice', { method: 'GET', path: '/forbidden' })).status).toBe(401);
    expect(logins()).toBe(1);
  });
});
