import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback server that must never be reached through the preview; it counts every request. */
export interface Canary {
  url: string;
  port: number;
  hits: string[];
  close(): Promise<void>;
}

/**
 * A loopback server standing in for a public site: `/` has a title, `/to?u=` redirects (302),
 * `/loop` redirects forever, `/big` sends 2 MiB, `/slow` never finishes its body.
 */
export interface Origin {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: Server): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
    return closing;
  };
}

export async function startCanary(): Promise<Canary> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/html' }).end('<title>canary reached</title>');
  });
  const url = await listen(server);
  return { url, port: Number(new URL(url).port), hits, close: closer(server) };
}

export async function startOrigin(title = 'Public &amp; allowed page'): Promise<Origin> {
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://origin');
    if (u.pathname === '/to') {
      res.writeHead(302, { location: u.searchParams.get('u') ?? '/' }).end();
      return;
    }
    if (u.pathname === '/loop') {
      res.writeHead(302, { location: '/loop' }).end();
      return;
    }
    if (u.pathname === '/slow') {
      // Headers at once, then a body that never ends: only the overall deadline stops the fetch.
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write('<html><head>');
      return;
    }
    if (u.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write(`<html><head><title>${'x'.repeat(300)}</title></head><body>`);
      res.end('y'.repeat(2 * 1024 * 1024));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html><head><title>\n  ${title}\n</title></head><body>hi</body></html>`);
  });
  const url = await listen(server);
  return { url, close: closer(server) };
}
