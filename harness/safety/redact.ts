/**
 * Replaces every registered secret (and common credential shapes) with a
 * marker. Used on every artifact: run.json, reports, excerpts, logs we copy.
 */
export class Redactor {
  readonly #secrets = new Set<string>();

  constructor(secrets: Iterable<string> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Registers a value; very short values are ignored (they would redact ordinary text). */
  add(secret: string | undefined): void {
    if (secret && secret.length >= 6) this.#secrets.add(secret);
  }

  get size(): number {
    return this.#secrets.size;
  }

  values(): string[] {
    return [...this.#secrets];
  }

  redact(text: string): string {
    let out = text;
    // Longest first, so a token that contains another secret is replaced whole.
    for (const s of [...this.#secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('[REDACTED]');
    return out
      .replace(/(authorization["']?\s*[:=]\s*["']?(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[REDACTED]')
      .replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[REDACTED-JWT]')
      .replace(/((?:^|[;\s"'])(?:sid|session|token|access_token)=)[^;\s"'&]+/gi, '$1[REDACTED]');
  }

  /** Redacts every string inside a JSON-able value. */
  redactDeep<T>(value: T): T {
    return JSON.parse(this.redact(JSON.stringify(value))) as T;
  }

  /** Whether the text contains any registered secret. */
  leaks(text: string): string[] {
    return [...this.#secrets].filter((s) => text.includes(s));
  }
}
