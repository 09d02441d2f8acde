import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redisCall } from './redis.ts';

/** An event fanned out to WebSocket clients through Redis pub/sub, so every app instance delivers it. */
export interface BusEvent {
  /** Who should receive it: subscribers of a channel, one user's sockets, or every instance (control). */
  scope: { channelId: string } | { userId: string } | { control: true };
  /** Tenant of the event, used by the WebSocket layer's isolation. */
  tenantId?: string;
  /** A user whose sockets must not receive a channel-scoped event (the sender of a typing notice). */
  excludeUserId?: string;
  event: Record<string, unknown>;
}

type Listener = (e: BusEvent) => void;

const PREFIX = 'bw:bus';

export class Bus {
  readonly #listeners = new Set<Listener>();
  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly log: Logger,
  ) {
    this.sub.on('message', (_channel: string, raw: string) => {
      let parsed: BusEvent;
      try {
        parsed = JSON.parse(raw) as BusEvent;
      } catch {
        return;
      }
      for (const l of this.#listeners) {
        try {
          l(parsed);
        } catch (err) {
          this.log.error({ err: (err as Error).message }, 'bus listener failed');
        }
      }
    });
  }

  async start(): Promise<void> {
    await this.sub.subscribe(PREFIX);
  }

  onEvent(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async publish(e: BusEvent): Promise<void> {
    await redisCall(() => this.pub.publish(PREFIX, JSON.stringify(e)));
  }
}
