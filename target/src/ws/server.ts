import type { Server } from 'node:http';
import type { Services } from '../services.ts';

export interface RealtimeServer {
  close(): Promise<void>;
}

/** Attaches the WebSocket endpoint (`/ws`) to the HTTP server. */
export function attachWebSocket(_server: Server, _s: Services): RealtimeServer {
  return { async close() {} };
}
