/** What the registry needs to know about a socket. */
export interface RegisteredSocket {
  readonly userId: string;
}

/**
 * The sockets open on this instance, indexed by user and by subscribed channel,
 * so a bus event reaches its recipients without scanning every socket.
 */
export class Registry<C extends RegisteredSocket> {
  readonly #all = new Set<C>();
  readonly #byUser = new Map<string, Set<C>>();
  readonly #byChannel = new Map<string, Set<C>>();
  /** Per socket: subscribed channel id -> the channel's tenant. */
  readonly #subscriptions = new Map<C, Map<string, string>>();

  add(conn: C): void {
    this.#all.add(conn);
    this.#subscriptions.set(conn, new Map());
    addTo(this.#byUser, conn.userId, conn);
  }

  /** Forgets a socket and all of its subscriptions. */
  remove(conn: C): void {
    if (!this.#all.delete(conn)) return;
    for (const channelId of this.#subscriptions.get(conn)?.keys() ?? []) removeFrom(this.#byChannel, channelId, conn);
    this.#subscriptions.delete(conn);
    removeFrom(this.#byUser, conn.userId, conn);
  }

  /** Subscribes a registered socket; a socket that is already gone stays gone. */
  subscribe(conn: C, channelId: string, tenantId: string): void {
    const subs = this.#subscriptions.get(conn);
    if (!subs) return;
    subs.set(channelId, tenantId);
    addTo(this.#byChannel, channelId, conn);
  }

  /** Returns whether the socket was subscribed. */
  unsubscribe(conn: C, channelId: string): boolean {
    const subs = this.#subscriptions.get(conn);
    if (!subs?.delete(channelId)) return false;
    removeFrom(this.#byChannel, channelId, conn);
    return true;
  }

  /** The tenant recorded when the socket subscribed to the channel, if it is subscribed. */
  subscribedTenant(conn: C, channelId: string): string | undefined {
    return this.#subscriptions.get(conn)?.get(channelId);
  }

  subscribersOf(channelId: string): C[] {
    return [...(this.#byChannel.get(channelId) ?? [])];
  }

  socketsOf(userId: string): C[] {
    return [...(this.#byUser.get(userId) ?? [])];
  }

  all(): C[] {
    return [...this.#all];
  }

  get size(): number {
    return this.#all.size;
  }
}

function addTo<C>(index: Map<string, Set<C>>, key: string, conn: C): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(conn);
}

function removeFrom<C>(index: Map<string, Set<C>>, key: string, conn: C): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(conn);
  if (set.size === 0) index.delete(key);
}
