import { createServer, get, Agent, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { WeightedRouter } from '../../harness/drills/weighted-router.ts';
import { freePort, isListening } from '../../harness/stack/ports.ts';

/**
 * The canary drill's weighted L4 router against two real HTTP + WebSocket
 * upstreams on loopback: each answers with its own name, so every response
 * says which upstream the connection went to.
 */
interface Upstream {
  name: string;
  server: Server;
  wss: WebSocketServer;
  address: string;
}

async function upstream(name: string): Promise<Upstream> {
  const server = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.end(name);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${name}:${m.toString()}`)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { name, server, wss, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** One GET on its own connection. */
function getOnce(url: string, agent: Agent | false = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function openWs(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function wsRoundTrip(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
    ws.once('message', (m) => {
      clearTimeout(t);
      resolve(m.toString());
    });
    ws.send(text);
  });
}

let a: Upstream;
let b: Upstream;
const routers: WeightedRouter[] = [];
const start = async (wa: number, wb: number) => {
  const r = await WeightedRouter.start([
    { name: 'a', address: a.address, weight: wa },
    { name: 'b', address: b.address, weight: wb },
  ]);
  routers.push(r);
  return r;
};

beforeAll(async () => {
  a = await upstream('a');
  b = await upstream('b');
});

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.stop()));
});

afterAll(async () => {
  for (const u of [a, b]) {
    for (const c of u.wss.clients) c.terminate();
    u.wss.close();
    u.server.closeAllConnections();
    await new Promise((r) => u.server.close(r));
  }
});

describe('weighted router', () => {
  test('weights are honoured per connection: 3:1 over 40 connections gives exactly 30 and 10', async () => {
    const router = await start(3, 1);
    const seen = { a: 0, b: 0 };
    // Long request lines too (a real API path with ids and a query string).
    for (let i = 0; i < 40; i++) seen[(await getOnce(`${router.url}/tenants/${'t'.repeat(36)}/channels/${'c'.repeat(36)}/messages?limit=20&i=${i}`)) as 'a' | 'b']++;
    expect(seen).toEqual({ a: 30, b: 10 });
    const s = router.stats();
    expect([s.a!.connections, s.b!.connections]).toEqual([30, 10]);
    expect([s.a!.requests, s.b!.requests]).toEqual([30, 10]);
    const ex = router.exchanges('b');
    expect(ex).toHaveLength(10);
    expect(ex.every((e) => e.status === 200 && e.ms >= 0)).toBe(true);
    expect(s.a!.bytesIn).toBeGreaterThan(0);
    expect(s.a!.bytesOut).toBeGreaterThan(0);
  });

  test('an HTTP keep-alive connection stays on the upstream it started on', async () => {
    const router = await start(1, 1);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers: string[] = [];
      for (let i = 0; i < 12; i++) answers.push(await getOnce(router.url, agent));
      expect(new Set(answers).size).toBe(1);
      const s = router.stats();
      expect(s.a!.connections + s.b!.connections).toBe(1);
      expect(s[answers[0]!]!.requests).toBe(12);
    } finally {
      agent.destroy();
    }
  });

  test('a WebSocket stays on one upstream, and its upgrade is seen as a 101', async () => {
    const router = await start(1, 1);
    const ws = await openWs(router.url.replace('http', 'ws'));
    try {
      const echoes: string[] = [];
      for (let i = 0; i < 10; i++) echoes.push(await wsRoundTrip(ws, `m${i}`));
      const names = new Set(echoes.map((e) => e.split(':')[0]));
      expect(names.size).toBe(1);
      const s = router.stats();
      expect(s.a!.connections + s.b!.connections).toBe(1);
      expect(router.exchanges().map((e) => e.status)).toEqual([101]);
    } finally {
      ws.terminate();
    }
  });

  test('weight 0 plus drain moves a live upstream out: its connections close, new ones go elsewhere', async () => {
    const router = await start(1, 1);
    // First connection goes to a, second to b (smooth round robin); hold b's open.
    const wsA = await openWs(router.url.replace('http', 'ws'));
    const wsB = await openWs(router.url.replace('http', 'ws'));
    expect((await wsRoundTrip(wsB, 'x')).startsWith('b:')).toBe(true);
    const closed = once(wsB, 'close');
    router.setWeights({ b: 0 });
    expect(await router.drain('b')).toBe(1);
    await closed;
    expect(router.stats().b!.active).toBe(0);
    expect(b.wss.clients.size === 0 || [...b.wss.clients].every((c) => c.readyState !== WebSocket.OPEN)).toBe(true);
    for (let i = 0; i < 6; i++) expect(await getOnce(router.url)).toBe('a');
    expect(router.stats().b!.connections).toBe(1);
    // a's socket was not touched by the drain.
    expect((await wsRoundTrip(wsA, 'y')).startsWith('a:')).toBe(true);
    wsA.terminate();
  });

  test('a refused upstream counts as its connect error, and all-zero weights refuse the client', async () => {
    const dead = await freePort();
    const router = await WeightedRouter.start([{ name: 'dead', address: `127.0.0.1:${dead}`, weight: 1 }]);
    routers.push(router);
    await expect(getOnce(router.url)).rejects.toThrow();
    await expect.poll(() => router.stats().dead!.connectErrors).toBe(1);
    expect(router.exchanges('dead').every((e) => e.status === 0)).toBe(true);
    router.setWeights({ dead: 0 });
    await expect(getOnce(router.url)).rejects.toThrow();
    expect(router.refused).toBe(1);
  });

  test('stop() closes every connection and the listener, and is idempotent', async () => {
    const router = await start(1, 1);
    const ws = await openWs(router.url.replace('http', 'ws'));
    const raw: Socket = connect({ host: '127.0.0.1', port: router.port });
    await once(raw, 'connect');
    await expect.poll(() => router.stats().a!.active + router.stats().b!.active).toBe(2);
    const wsClosed = once(ws, 'close');
    const rawClosed = once(raw, 'close');
    await Promise.all([router.stop(), router.stop()]);
    await Promise.all([wsClosed, rawClosed]);
    expect(await isListening(router.port)).toBe(false);
    const s = router.stats();
    expect(s.a!.active + s.b!.active).toBe(0);
    // The upstreams see their side closed too.
    const open = async (u: Upstream) => new Promise<number>((r) => u.server.getConnections((_, n) => r(n)));
    await expect.poll(async () => (await open(a)) + (await open(b))).toBe(0);
  });
});
