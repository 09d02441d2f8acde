import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { bearer, type Principal } from '../auth.ts';
import type { BusEvent } from '../bus.ts';
import { HttpError } from '../errors.ts';
import { requireScope } from '../membership.ts';
import type { Services } from '../services.ts';
import { CLOSE_GOING_AWAY, Connection } from './connection.ts';
import { MAX_FRAME_BYTES, UNCAPPED_FRAME_BYTES } from './frames.ts';
import { socketRateLimiter } from './rate-limit.ts';
import { Registry } from './registry.ts';

export interface RealtimeServer {
  /** Closes every socket with 1001, refuses further upgrades and stops listening to the bus. Idempotent. */
  close(): Promise<void>;
}

const PATH = '/ws';
const HEARTBEAT_MS = 30_000;
const CLOSE_GRACE_MS = 2_000;

/**
 * Attaches the WebSocket endpoint (`/ws`) to the HTTP server: authenticates the
 * upgrade request, then serves the frame protocol of API.md and delivers the
 * bus events meant for this instance's sockets.
 */
export function attachWebSocket(server: Server, s: Services): RealtimeServer {
  const { flaws } = s.config;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: flaws.has('no-payload-cap') ? UNCAPPED_FRAME_BYTES : MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });
  const registry = new Registry<Connection>();
  const authenticating = new Set<Duplex>();
  let closing: Promise<void> | undefined;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void upgrade(req, socket, head).catch((err: Error) => {
      s.log.error({ err: err.message }, 'websocket upgrade failed');
      refuse(socket, 500, 'internal', 'internal error');
    });
  };

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', (err) => s.log.debug({ err: err.message }, 'upgrade socket error'));
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== PATH) return refuse(socket, 404, 'not_found', 'no such route');
    if (closing) return refuse(socket, 503, 'unavailable', 'server is shutting down');
    authenticating.add(socket);
    let principal: Principal;
    try {
      principal = await s.auth.authenticate(bearer(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined);
      requireScope(s.config, principal, 'realtime');
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 503) s.metrics.dependencyErrors.inc({ dependency: /redis/.test(err.message) ? 'redis' : 'postgres' });
      return refuse(socket, err.status, err.code, err.message, err.headers);
    } finally {
      authenticating.delete(socket);
    }
    if (socket.destroyed) return;
    if (closing) return refuse(socket, 503, 'unavailable', 'server is shutting down');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ws, principal, s, registry, socketRateLimiter(s, principal.userId));
      registry.add(conn);
      s.metrics.wsConnections.inc();
      ws.once('close', () => {
        registry.remove(conn);
        s.metrics.wsConnections.dec();
      });
    });
  }

  function deliver(e: BusEvent): void {
    const type = typeof e.event?.type === 'string' ? e.event.type : 'unknown';
    if ('channelId' in e.scope) {
      const { channelId } = e.scope;
      const leak = flaws.has('ws-room-leak');
      const serialized = JSON.stringify(e.event);
      for (const conn of leak ? registry.all() : registry.subscribersOf(channelId)) {
        if (e.excludeUserId !== undefined && conn.userId === e.excludeUserId) continue;
        if (!leak && e.tenantId !== undefined && registry.subscribedTenant(conn, channelId) !== e.tenantId) continue;
        conn.deliver(serialized, type);
      }
    } else if ('userId' in e.scope) {
      const serialized = JSON.stringify(e.event);
      for (const conn of registry.socketsOf(e.scope.userId)) conn.deliver(serialized, type);
    } else if (type === 'membership.revoked') {
      const { channelId, userId } = e.event;
      if (typeof channelId !== 'string' || typeof userId !== 'string') return;
      for (const conn of registry.socketsOf(userId)) conn.revoke(channelId.toLowerCase());
    }
  }

  server.on('upgrade', onUpgrade);
  const stopListening = s.bus.onEvent(deliver);
  const heartbeat = setInterval(() => {
    for (const conn of registry.all()) {
      if (!conn.alive) conn.terminate();
      else conn.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    close() {
      closing ??= (async () => {
        server.off('upgrade', onUpgrade);
        stopListening();
        clearInterval(heartbeat);
        for (const socket of authenticating) socket.destroy();
        const closed = Promise.all(registry.all().map((conn) => conn.close(CLOSE_GOING_AWAY, 'server shutting down')));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
        clearTimeout(timer);
        for (const conn of registry.all()) conn.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuse(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: code, message });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
