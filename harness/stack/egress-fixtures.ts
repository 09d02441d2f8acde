import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** Loopback servers the SSRF suite needs, owned by the run. */
export interface EgressFixtures {
  /** Any request to it is a hit: the target fetched somewhere it must not. */
  canaryOrigin: string;
  /** The one loopback origin the target may fetch (its test allowlist names it); it redirects on request. */
  allowedOrigin: string;
  close(): Promise<void>;
}

/** Where the canary lists the paths it was asked for (the suite reads it; a target fetching it counts as nothing). */
export const CANARY_HITS_PATH = '/__breakwater/hits';

/**
 * Starts the title of every page the fixtures serve. An endpoint that fetched
 * one returns it; since fetched content must reach no artifact, tests look for
 * this mark in everything a run wrote.
 */
export const FETCHED_CONTENT_MARK = 'bw-fetched-content';

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string }> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.keepAliveTimeout = 1000;
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
  });
}

/**
 * Starts the canary listener and the allowed origin on free loopback ports.
 * The allowed origin serves `/page` (a title) and `/redirect?to=URL` (302 to
 * any URL, so redirects can be checked hop by hop).
 */
export async function startEgressFixtures(): Promise<EgressFixtures> {
  const hits: string[] = [];
  const canary = await listen((req, res) => {
    if (req.url === CANARY_HITS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(hits));
      return;
    }
    if (hits.length < 10_000) hits.push(req.url ?? '/');
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<html><head><title>${FETCHED_CONTENT_MARK} canary</title></head></html>`);
  });
  const allowed = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://allowed.invalid');
    if (url.pathname === '/redirect') {
      const to = url.searchParams.get('to') ?? '/page';
      res.writeHead(302, { location: to }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<html><head><title>${FETCHED_CONTENT_MARK} allowed origin</title></head></html>`);
  });
  let closing: Promise<void> | undefined;
  return {
    canaryOrigin: canary.origin,
    allowedOrigin: allowed.origin,
    close() {
      closing ??= Promise.all(
        [canary.server, allowed.server].map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))),
      ).then(() => undefined);
      return closing;
    },
  };
}
