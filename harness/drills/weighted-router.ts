import { connect, createServer, type Server, type Socket } from 'node:net';
import { BreakwaterError, oneLine } from '../errors.ts';

/**
 * A weighted TCP (L4) router on 127.0.0.1, owned by the harness for canary
 * drills. Each client connection is given to one upstream, chosen by weight,
 * and spliced to it byte for byte: an HTTP keep-alive connection or a
 * WebSocket stays on the instance it started on, the way a load balancer's
 * canary split behaves.
 *
 * Hand-written on purpose: the choice is a few dozen lines of node:net, while
 * HTTP proxy libraries (http-proxy and friends) route per request at L7, have
 * no weighted per-connection choice, and proxy WebSocket upgrades outside any
 * weighting. Here weights change live, draining one upstream closes exactly
 * its connections, and every socket the router opens is closed by `stop()`.
 */

export interface RouterUpstream {
  name: string;
  /** `host:port` the router connects to. */
  address: string;
  /** Relative share of new connections; 0 takes none. */
  weight: number;
}

/** One HTTP/1.x request/response pair seen at the router (see `observeHttp`). */
export interface ObservedExchange {
  upstream: string;
  /** When the response head arrived, or when the connection closed without one (epoch ms). */
  t: number;
  /** From the request head to the response head. */
  ms: number;
  /** The response status; 0 when the connection closed before a response head came. */
  status: number;
  /** The router closed the connection itself (a drain or `stop()`), so the missing answer is the router's doing. */
  cut?: boolean;
}

export interface UpstreamStats {
  name: string;
  address: string;
  weight: number;
  /** Client connections routed to it, ever. */
  connections: number;
  /** Client connections open right now. */
  active: number;
  /** Connections to it that failed (refused, reset before it answered). */
  connectErrors: number;
  /** Bytes from clients to the upstream, and back. */
  bytesIn: number;
  bytesOut: number;
  /** HTTP/1.x request heads seen (with `observeHttp`). */
  requests: number;
}

export interface RouterOptions {
  /**
   * Watch HTTP/1.x on each connection: a client segment that starts with a
   * request line opens a request, the next upstream segment that starts with
   * a status line answers it. An estimate that holds for clients that do not
   * pipeline (k6, undici, browsers); after a `101` the connection is a
   * WebSocket and is no longer watched. Default true.
   */
  observeHttp?: boolean;
  /** Exchanges kept for `exchanges()`; later ones are not kept (counted in `droppedExchanges`). Default 200,000. */
  maxExchanges?: number;
}

interface Route {
  client: Socket;
  upstream: Socket;
  name: string;
  /** Request head time of the request awaiting its response. */
  pendingSince?: number;
  upgraded: boolean;
  cut: boolean;
  /** Last bytes either way (epoch ms). */
  lastActivity: number;
}

const REQUEST_LINE = /^(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP\/1\.[01]\r\n/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})/;
/** Request lines longer than this (a very long query string) are not recognised. */
const MAX_REQUEST_LINE = 8192;
const CONNECT_TIMEOUT_MS = 5_000;
/** A connection with no request awaiting an answer and no bytes either way for this long is idle: closing it loses nothing. */
const IDLE_QUIET_MS = 50;
const DRAIN_POLL_MS = 20;
const STOP_WAIT_MS = 5_000;

export class WeightedRouter implements AsyncDisposable {
  readonly #server: Server;
  readonly #upstreams = new Map<string, UpstreamStats>();
  /** Smooth weighted round robin state (nginx's): deterministic shares, evenly interleaved. */
  readonly #current = new Map<string, number>();
  readonly #routes = new Set<Route>();
  readonly #exchanges: ObservedExchange[] = [];
  readonly #observe: boolean;
  readonly #maxExchanges: number;
  #dropped = 0;
  #refused = 0;
  #port = 0;
  #stopping: Promise<void> | undefined;

  private constructor(server: Server, upstreams: RouterUpstream[], opts: RouterOptions) {
    this.#server = server;
    this.#observe = opts.observeHttp ?? true;
    this.#maxExchanges = opts.maxExchanges ?? 200_000;
    for (const u of upstreams) this.add(u);
    server.on('connection', (client) => this.#route(client));
  }

  /** Listens on a free 127.0.0.1 port. */
  static async start(upstreams: RouterUpstream[], opts: RouterOptions = {}): Promise<WeightedRouter> {
    const server = createServer({ noDelay: true });
    const router = new WeightedRouter(server, upstreams, opts);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        router.#port = (server.address() as { port: number }).port;
        resolve();
      });
    });
    return router;
  }

  /** The listening port (still readable after `stop()`). */
  get port(): number {
    return this.#port;
  }

  /** `http://127.0.0.1:<port>`: what clients use instead of the service's URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Adds an upstream (weight 0 keeps it out of the route until `setWeights`). */
  add(u: RouterUpstream): void {
    if (this.#upstreams.has(u.name)) throw new BreakwaterError('BW_USAGE', `router: upstream "${u.name}" exists already; give each upstream its own name`);
    if (!/^[^:\s]+:\d+$/.test(u.address)) throw new BreakwaterError('BW_USAGE', `router: upstream "${u.name}" address "${u.address}" is not host:port`);
    checkWeight(u.name, u.weight);
    this.#upstreams.set(u.name, { name: u.name, address: u.address, weight: u.weight, connections: 0, active: 0, connectErrors: 0, bytesIn: 0, bytesOut: 0, requests: 0 });
    this.#current.set(u.name, 0);
  }

  /** New weights for the named upstreams; affects new connections only (open ones stay where they are, see `drain`). */
  setWeights(weights: Record<string, number>): void {
    for (const [name, w] of Object.entries(weights)) {
      const u = this.#upstreams.get(name);
      if (!u) throw new BreakwaterError('BW_USAGE', `router: no upstream "${name}" (upstreams: ${[...this.#upstreams.keys()].join(', ')})`);
      checkWeight(name, w);
      u.weight = w;
    }
    for (const name of this.#current.keys()) this.#current.set(name, 0);
  }

  /**
   * Closes every open connection routed to `name`; clients see it end and
   * reconnect (to wherever the weights send them now). Idle connections close
   * at once, busy ones as soon as their answer is through, whatever is left
   * at `graceMs` (default 0) is cut. Resolves with how many it closed, once
   * they are closed.
   */
  async drain(name: string, opts: { graceMs?: number } = {}): Promise<number> {
    const deadline = Date.now() + (opts.graceMs ?? 0);
    const closing: Array<Promise<void>> = [];
    for (;;) {
      const open = [...this.#routes].filter((r) => r.name === name && !r.cut);
      const now = Date.now();
      const ready = now >= deadline ? open : open.filter((r) => this.#idle(r, now));
      closing.push(...ready.map((r) => this.#cut(r)));
      if (ready.length === open.length) break;
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
    await Promise.all(closing);
    return closing.length;
  }

  /**
   * Closes the connections of `name` that are idle right now (keep-alive
   * connections between requests, WebSockets), leaving busy ones alone.
   * Their clients reconnect and the current weights place them: how a new
   * weight reaches clients that hold their connections open.
   */
  rebalance(name: string): number {
    const now = Date.now();
    const idle = [...this.#routes].filter((r) => r.name === name && !r.cut && this.#idle(r, now));
    for (const r of idle) void this.#cut(r);
    return idle.length;
  }

  stats(): Record<string, UpstreamStats> {
    return Object.fromEntries([...this.#upstreams].map(([k, v]) => [k, { ...v }]));
  }

  /** Connections refused because every weight was 0. */
  get refused(): number {
    return this.#refused;
  }

  get droppedExchanges(): number {
    return this.#dropped;
  }

  /** Observed HTTP exchanges of one upstream (or all) with from <= t < to. */
  exchanges(upstream?: string, from = 0, to = Number.POSITIVE_INFINITY): ObservedExchange[] {
    return this.#exchanges.filter((e) => (!upstream || e.upstream === upstream) && e.t >= from && e.t < to);
  }

  /** Stops listening and closes every connection. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      await Promise.all([...this.#routes].map((r) => this.#cut(r)));
      await Promise.race([closed, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #pick(): UpstreamStats | undefined {
    let total = 0;
    let best: UpstreamStats | undefined;
    for (const u of this.#upstreams.values()) {
      if (u.weight <= 0) continue;
      total += u.weight;
      const c = this.#current.get(u.name)! + u.weight;
      this.#current.set(u.name, c);
      if (!best || c > this.#current.get(best.name)!) best = u;
    }
    if (best) this.#current.set(best.name, this.#current.get(best.name)! - total);
    return best;
  }

  #route(client: Socket): void {
    const target = this.#stopping ? undefined : this.#pick();
    if (!target) {
      this.#refused++;
      client.destroy();
      return;
    }
    const [host, port] = splitAddress(target.address);
    const upstream = connect({ host, port, noDelay: true });
    const route: Route = { client, upstream, name: target.name, upgraded: false, cut: false, lastActivity: Date.now() };
    this.#routes.add(route);
    target.connections++;
    target.active++;
    let answered = false;
    upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy(new Error('connect timeout')));
    upstream.once('connect', () => upstream.setTimeout(0));

    client.on('data', (chunk: Buffer) => {
      target.bytesIn += chunk.length;
      route.lastActivity = Date.now();
      if (this.#observe && !route.upgraded && REQUEST_LINE.test(chunk.subarray(0, MAX_REQUEST_LINE).toString('latin1'))) {
        target.requests++;
        route.pendingSince ??= Date.now();
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      answered = true;
      target.bytesOut += chunk.length;
      route.lastActivity = Date.now();
      if (!this.#observe || route.upgraded || route.pendingSince === undefined) return;
      const m = STATUS_LINE.exec(chunk.subarray(0, 16).toString('latin1'));
      if (!m) return;
      const status = Number(m[1]);
      if (status === 100) return;
      if (status === 101) route.upgraded = true;
      this.#record({ upstream: target.name, t: Date.now(), ms: Date.now() - route.pendingSince, status });
      route.pendingSince = undefined;
    });
    client.pipe(upstream);
    upstream.pipe(client);

    let closed = 0;
    const onClose = () => {
      if (++closed < 2) return;
      this.#routes.delete(route);
      target.active--;
      if (route.pendingSince !== undefined) this.#record({ upstream: target.name, t: Date.now(), ms: Date.now() - route.pendingSince, status: 0, ...(route.cut ? { cut: true } : {}) });
    };
    upstream.on('error', () => {
      // Refused, reset or timed out before the upstream said anything: the upstream failed this client.
      if (!answered && !route.cut) target.connectErrors++;
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    upstream.once('close', () => {
      client.destroy();
      onClose();
    });
    client.once('close', () => {
      upstream.destroy();
      onClose();
    });
  }

  /** Nothing awaited on it and quiet for a moment; an upgraded (WebSocket) connection has no request boundary and counts as idle. */
  #idle(r: Route, now: number): boolean {
    return r.upgraded || (r.pendingSince === undefined && now - r.lastActivity >= IDLE_QUIET_MS);
  }

  #cut(route: Route): Promise<void> {
    route.cut = true;
    const gone = Promise.all([closedPromise(route.client), closedPromise(route.upstream)]).then(() => undefined);
    route.client.destroy();
    route.upstream.destroy();
    return gone;
  }

  #record(e: ObservedExchange): void {
    if (this.#exchanges.length >= this.#maxExchanges) this.#dropped++;
    else this.#exchanges.push(e);
  }
}

function checkWeight(name: string, w: number): void {
  if (!(Number.isFinite(w) && w >= 0)) throw new BreakwaterError('BW_USAGE', `router: weight of "${name}" is ${w}; it must be a finite number >= 0`);
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

function closedPromise(s: Socket): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((resolve) => s.once('close', () => resolve()));
}

/** `host:port` of an `http://` URL, for a router upstream. */
export function addressOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  } catch (err) {
    throw new BreakwaterError('BW_USAGE', `router: "${url}" is not a URL (${oneLine(err)})`);
  }
}
