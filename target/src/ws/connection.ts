import { WebSocket, type RawData } from 'ws';
import { SCOPES, type Principal, type Scope } from '../auth.ts';
import { HttpError } from '../errors.ts';
import { requireScope, type Channel } from '../membership.ts';
import type { Services } from '../services.ts';
import { decodeFrame, decodeFrameLater, FrameError, validateFrame, type ClientFrame, type Envelope, type ErrorCode, type FrameChecks, type Ref } from './frames.ts';
import type { RateDecision, SocketRateLimiter } from './rate-limit.ts';
import type { Registry } from './registry.ts';

/** Rejected frames in a row after which the socket is closed with {@link CLOSE_RATE_LIMITED}. */
export const MAX_REJECTIONS_IN_A_ROW = 50;
export const CLOSE_RATE_LIMITED = 4429;
export const CLOSE_GOING_AWAY = 1001;

/** A client-visible failure of one frame. */
class FrameRefused extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const refused = (message = 'not allowed in this channel') => new FrameRefused('forbidden', message);

/**
 * One authenticated socket: admits each client frame through the rate limiter,
 * handles frames one at a time in arrival order, and delivers bus events.
 * A frame's failure is replied to that frame and never ends the connection.
 */
export class Connection {
  readonly userId: string;
  /** Cleared by each heartbeat ping and set again by the pong. */
  alive = true;
  #queue: Promise<void> = Promise.resolve();
  #rejectionsInARow = 0;
  /** Revocations seen per channel, so a subscribe that raced a revocation is refused. */
  readonly #revocations = new Map<string, number>();
  readonly #checks: FrameChecks;
  readonly #closed: Promise<void>;

  constructor(
    private readonly ws: WebSocket,
    readonly principal: Principal,
    private readonly s: Services,
    private readonly registry: Registry<Connection>,
    private readonly limiter: SocketRateLimiter,
  ) {
    this.userId = principal.userId;
    this.#checks = { capPresetSize: !s.config.flaws.has('no-payload-cap'), checkRtcShape: !s.config.flaws.has('rtc-no-shape-check') };
    this.#closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data, isBinary) => this.#receive(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err) => s.log.debug({ err: err.message, userId: this.userId }, 'websocket error'));
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends an already serialized bus event. */
  deliver(serialized: string, type: string): void {
    if (!this.open) return;
    this.ws.send(serialized);
    this.s.metrics.wsDeliveries.inc({ type });
  }

  /** Drops a subscription after the user lost access to the channel, and tells the client. */
  revoke(channelId: string): void {
    this.#revocations.set(channelId, (this.#revocations.get(channelId) ?? 0) + 1);
    if (this.registry.unsubscribe(this, channelId)) {
      this.deliver(JSON.stringify({ type: 'unsubscribed', channelId, reason: 'revoked' }), 'unsubscribed');
    }
  }

  ping(): void {
    this.alive = false;
    if (this.open) this.ws.ping();
  }

  /** Starts the closing handshake; resolves once the socket is closed. */
  close(code: number, reason: string): Promise<void> {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    return this.#closed;
  }

  terminate(): void {
    this.ws.terminate();
  }

  #receive(data: RawData, isBinary: boolean): void {
    if (!isBinary && this.s.config.flaws.has('crash-on-malformed-frame')) {
      decodeFrameLater(data, (decoded) => this.#admit(decoded));
      return;
    }
    this.#admit(decodeFrame(data, isBinary));
  }

  #admit(decoded: Envelope | FrameError): void {
    // The token is taken now, so bucket order is arrival order even while earlier frames are still being handled.
    const decision: Promise<RateDecision | Error> = this.limiter.take().catch((err: Error) => err);
    this.#queue = this.#queue
      .then(() => this.#process(decoded, decision))
      .catch((err: Error) => this.s.log.error({ err: err.message, userId: this.userId }, 'websocket frame handling failed'));
  }

  async #process(decoded: Envelope | FrameError, pending: Promise<RateDecision | Error>): Promise<void> {
    const ref = decoded.ref;
    const decision = await pending;
    if (!this.open) return;
    if (decision instanceof Error) {
      this.#fail(decision, ref);
      return;
    }
    if (!decision.allowed) {
      this.s.metrics.rateLimited.inc({ limiter: 'socket' });
      this.#rejectionsInARow += 1;
      this.#reply({ type: 'error', code: 'rate_limited', message: 'too many frames; slow down', retryAfterMs: decision.retryAfterMs }, ref);
      if (this.#rejectionsInARow >= MAX_REJECTIONS_IN_A_ROW) void this.close(CLOSE_RATE_LIMITED, 'rate limited');
      return;
    }
    this.#rejectionsInARow = 0;
    if (decoded instanceof FrameError) {
      this.#fail(decoded, ref);
      return;
    }
    try {
      await this.#handle(validateFrame(decoded, this.#checks));
    } catch (err) {
      this.#fail(err, ref);
    }
  }

  async #handle(frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'subscribe': {
        this.#requireScope('messages:read');
        const revocationsBefore = this.#revocations.get(frame.channelId) ?? 0;
        const ch = await this.#readableChannel(frame.channelId);
        if ((this.#revocations.get(frame.channelId) ?? 0) !== revocationsBefore) throw refused();
        this.registry.subscribe(this, ch.id, ch.tenant_id);
        this.#reply({ type: 'subscribed', channelId: ch.id }, frame.ref);
        return;
      }
      case 'unsubscribe':
        this.registry.unsubscribe(this, frame.channelId);
        this.#reply({ type: 'unsubscribed', channelId: frame.channelId }, frame.ref);
        return;
      case 'message.send': {
        this.#requireScope('messages:write');
        const ch = await this.#writableChannel(frame.channelId);
        const message = await this.s.messages.create(this.principal, ch, frame.body, frame.clientId);
        this.#reply({ type: 'ack', messageId: message.id }, frame.ref);
        return;
      }
      case 'typing': {
        this.#requireScope('messages:write');
        const ch = await this.#writableChannel(frame.channelId);
        await this.s.bus.publish({
          scope: { channelId: ch.id },
          tenantId: ch.tenant_id,
          excludeUserId: this.userId,
          event: { type: 'typing', channelId: ch.id, userId: this.userId },
        });
        return;
      }
      case 'rtc.signal': {
        this.#requireScope('messages:write');
        const ch = await this.#writableChannel(frame.channelId);
        const peer = await this.#principalOf(frame.to);
        if (!peer || !(await this.s.membership.canRead(peer, ch))) throw refused('the peer cannot read this channel');
        await this.s.bus.publish({
          scope: { userId: peer.userId },
          tenantId: ch.tenant_id,
          event: { type: 'rtc.signal', channelId: ch.id, from: this.userId, signal: frame.signal },
        });
        this.#reply({ type: 'ack' }, frame.ref);
        return;
      }
      case 'preset.share': {
        this.#requireScope('messages:write');
        const ch = await this.#writableChannel(frame.channelId);
        await this.s.bus.publish({
          scope: { channelId: ch.id },
          tenantId: ch.tenant_id,
          event: { type: 'preset', channelId: ch.id, from: this.userId, preset: frame.preset },
        });
        this.#reply({ type: 'ack' }, frame.ref);
        return;
      }
    }
  }

  #requireScope(scope: Scope): void {
    try {
      requireScope(this.s.config, this.principal, scope);
    } catch {
      throw refused(`token lacks scope ${scope}`);
    }
  }

  async #channel(channelId: string): Promise<Channel | undefined> {
    const { rows } = await this.s.db.query<Channel>('SELECT id, tenant_id, name, private, created_by FROM channels WHERE id = $1', [channelId]);
    return rows[0];
  }

  /** Unknown channels and channels of other tenants are refused exactly like unreadable ones, so they cannot be probed. */
  async #readableChannel(channelId: string): Promise<Channel> {
    const ch = await this.#channel(channelId);
    if (!ch || !(await this.s.membership.canRead(this.principal, ch))) throw refused();
    return ch;
  }

  async #writableChannel(channelId: string): Promise<Channel> {
    const ch = await this.#channel(channelId);
    if (!ch || !(await this.s.membership.canWrite(this.principal, ch))) throw refused();
    return ch;
  }

  /** The principal of another user, as far as channel access goes; undefined for unknown or suspended users. */
  async #principalOf(userId: string): Promise<Principal | undefined> {
    const { rows } = await this.s.db.query<{ kind: 'user' | 'bot'; suspended: boolean; bot_tenant_id: string | null; bot_scopes: string[] | null }>(
      `SELECT u.kind, u.suspended, b.tenant_id AS bot_tenant_id, b.scopes AS bot_scopes
         FROM users u LEFT JOIN bots b ON b.user_id = u.id WHERE u.id = $1`,
      [userId],
    );
    const row = rows[0];
    if (!row || row.suspended) return undefined;
    if (row.kind === 'bot') {
      const scopes = (row.bot_scopes ?? []).filter((sc): sc is Scope => (SCOPES as readonly string[]).includes(sc));
      return { userId, kind: 'bot', botTenantId: row.bot_tenant_id ?? undefined, scopes: new Set(scopes) };
    }
    return { userId, kind: 'user', scopes: new Set(SCOPES) };
  }

  #fail(err: unknown, ref: Ref | undefined): void {
    if (err instanceof FrameError || err instanceof FrameRefused) {
      this.#reply({ type: 'error', code: err.code, message: err.message }, ref);
      return;
    }
    if (err instanceof HttpError && err.status === 503) {
      this.s.metrics.dependencyErrors.inc({ dependency: /redis/.test(err.message) ? 'redis' : 'postgres' });
      this.#reply({ type: 'error', code: 'unavailable', message: err.message }, ref);
      return;
    }
    if (err instanceof HttpError && (err.status === 403 || err.status === 404)) {
      this.#reply({ type: 'error', code: 'forbidden', message: 'not allowed in this channel' }, ref);
      return;
    }
    this.s.log.error({ err: (err as Error).message, userId: this.userId }, 'websocket frame failed');
    this.#reply({ type: 'error', code: 'unavailable', message: 'the frame could not be processed, retry later' }, ref);
  }

  #reply(body: Record<string, unknown>, ref: Ref | undefined): void {
    if (!this.open) return;
    this.ws.send(JSON.stringify(ref === undefined ? body : { ...body, ref }));
  }
}
