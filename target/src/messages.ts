import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Principal } from './auth.ts';
import type { Bus } from './bus.ts';
import type { TargetConfig } from './config.ts';
import type { Database } from './db.ts';
import type { Channel } from './membership.ts';

export interface Message {
  id: string;
  channelId: string;
  authorId: string;
  body: string;
  clientId: string | null;
  createdAt: string;
  editedAt: string | null;
}

interface MessageRow {
  id: string;
  channel_id: string;
  author_id: string;
  body: string;
  client_id: string | null;
  created_at: Date;
  edited_at: Date | null;
}

export function toMessage(r: MessageRow): Message {
  return {
    id: r.id,
    channelId: r.channel_id,
    authorId: r.author_id,
    body: r.body,
    clientId: r.client_id,
    createdAt: new Date(r.created_at).toISOString(),
    editedAt: r.edited_at ? new Date(r.edited_at).toISOString() : null,
  };
}

const COLUMNS = 'id, channel_id, author_id, body, client_id, created_at, edited_at';

/** Creating messages, shared by HTTP and WebSocket so both acknowledge the same way. */
export class Messages {
  constructor(
    private readonly config: TargetConfig,
    private readonly db: Database,
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  /**
   * Stores a message and fans it out. Resolves only after the row is committed
   * (a single autocommitted INSERT: when it returns, it is durable), so an
   * acknowledged message is never lost. A retried `clientId` returns the
   * original message, with `created: false`, instead of a duplicate.
   */
  async createOrGet(principal: Principal, ch: Channel, body: string, clientId: string | null): Promise<{ message: Message; created: boolean }> {
    if (this.config.flaws.has('ack-before-commit')) return { message: await this.createUnsafely(principal, ch, body, clientId), created: true };
    const inserted = await this.db.query<MessageRow>(
      `INSERT INTO messages (channel_id, author_id, body, client_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (channel_id, author_id, client_id) DO NOTHING RETURNING ${COLUMNS}`,
      [ch.id, principal.userId, body, clientId],
      'message-insert',
    );
    if (inserted.rows[0]) {
      const message = toMessage(inserted.rows[0]);
      await this.fanOut(ch, message);
      return { message, created: true };
    }
    const existing = await this.db.query<MessageRow>(`SELECT ${COLUMNS} FROM messages WHERE channel_id = $1 AND author_id = $2 AND client_id = $3`, [
      ch.id,
      principal.userId,
      clientId,
    ]);
    return { message: toMessage(existing.rows[0]!), created: false };
  }

  /** Like `createOrGet`, returning only the message. */
  async create(principal: Principal, ch: Channel, body: string, clientId: string | null): Promise<Message> {
    return (await this.createOrGet(principal, ch, body, clientId)).message;
  }

  /** The regression: acknowledge first, write later, and swallow the write's failure. */
  private async createUnsafely(principal: Principal, ch: Channel, body: string, clientId: string | null): Promise<Message> {
    const message: Message = { id: randomUUID(), channelId: ch.id, authorId: principal.userId, body, clientId, createdAt: new Date().toISOString(), editedAt: null };
    void this.db
      .query(`INSERT INTO messages (id, channel_id, author_id, body, client_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
        message.id,
        ch.id,
        principal.userId,
        body,
        clientId,
      ])
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'message write failed after ack'));
    await this.fanOut(ch, message).catch(() => {});
    return message;
  }

  private async fanOut(ch: Channel, message: Message): Promise<void> {
    await this.bus
      .publish({ scope: { channelId: ch.id }, tenantId: ch.tenant_id, event: { type: 'message', channelId: ch.id, message } })
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'fan-out failed; message is stored'));
  }
}
