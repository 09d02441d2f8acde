/**
 * Flaw switches. Each one brings back exactly one known regression class and
 * changes nothing else. `TARGET_FLAWS=a,b` turns them on; an unknown name makes
 * the service refuse to start.
 */
export const FLAWS = [
  'message-edit-any-author',
  'channel-read-cross-tenant',
  'admin-demote-parse',
  'jwt-alg-none',
  'expired-token-accepted',
  'bot-scope-ignored',
  'ws-room-leak',
  'upload-no-membership',
  'cache-key-no-tenant',
  'no-socket-rate-limit',
  'rate-limit-per-connection',
  'no-payload-cap',
  'rtc-no-shape-check',
  'ssrf-no-guard',
  'ssrf-follow-redirect',
  'ssrf-loopback-only',
  'token-in-logs',
  'ack-before-commit',
  'no-db-timeout',
  'no-redis-reconnect',
  'crash-on-malformed-frame',
] as const;

export type Flaw = (typeof FLAWS)[number];

export class Flaws {
  readonly #on: ReadonlySet<Flaw>;
  constructor(on: Iterable<Flaw> = []) {
    this.#on = new Set(on);
  }
  has(flaw: Flaw): boolean {
    return this.#on.has(flaw);
  }
  list(): Flaw[] {
    return [...this.#on];
  }
}

/** Parses `TARGET_FLAWS`. Throws a one-line error naming the unknown switch. */
export function parseFlaws(raw: string | undefined): Flaws {
  const names = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(FLAWS as readonly string[]).includes(name)) {
      throw new Error(`unknown flaw switch "${name}" in TARGET_FLAWS; known switches: ${FLAWS.join(', ')}`);
    }
  }
  return new Flaws(names as Flaw[]);
}
