import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from 'pino';
import type { TargetConfig } from './config.ts';
import { unavailable } from './errors.ts';

export type Queryable = Pick<pg.PoolClient, 'query'>;

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/** Errors that mean "Postgres is slow or unreachable", as opposed to a bug or bad input. */
export function isDependencyError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (!e) return false;
  if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '57014', '08006', '08001', '08003'].includes(e.code)) return true;
  return /timeout|terminated|Connection ended|connect ECONN|not queryable|Client was closed/i.test(e.message ?? '');
}

export class Database {
  readonly pool: pg.Pool;
  readonly #connectionString: string;
  constructor(config: TargetConfig, private readonly log: Logger) {
    this.#connectionString = config.databaseUrl;
    const timeouts = config.flaws.has('no-db-timeout')
      ? {}
      : {
          connectionTimeoutMillis: config.dependencyTimeoutMs,
          query_timeout: config.dependencyTimeoutMs,
          statement_timeout: config.dependencyTimeoutMs,
        };
    this.pool = new pg.Pool({ connectionString: config.databaseUrl, max: 20, idleTimeoutMillis: 10_000, ...timeouts });
    // An idle client that loses its connection emits here; without a listener the process would crash.
    this.pool.on('error', (err) => this.log.warn({ err: err.message }, 'postgres idle client error'));
  }

  /**
   * Runs one query. Dependency failures become a 503 with Retry-After. A `name`
   * makes it a prepared statement, parsed and planned once per connection: for
   * the per-request queries, where parsing costs Postgres more than executing.
   * One name must always go with the same text.
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = [], name?: string): Promise<pg.QueryResult<R>> {
    try {
      return await (name ? this.pool.query<R>({ name, text, values: params }) : this.pool.query<R>(text, params));
    } catch (err) {
      throw this.map(err);
    }
  }

  /** Runs `fn` in a transaction; resolves only after COMMIT has succeeded. */
  async tx<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.map(err);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      broken = isDependencyError(err);
      if (!broken) await client.query('ROLLBACK').catch(() => {});
      throw this.map(err);
    } finally {
      client.release(broken ? true : undefined);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  /**
   * Applies pending migrations under an advisory lock, so several instances can
   * start at once. Uses its own connection: a migration (or waiting for another
   * instance's) may take longer than the per-request timeout.
   */
  async migrate(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#connectionString, connectionTimeoutMillis: 30_000, statement_timeout: 120_000 });
    await client.connect();
    try {
      await client.query('SELECT pg_advisory_lock(727274)');
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
      const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
      for (const file of files) {
        if (done.has(file)) continue;
        const sql = await readFile(MIGRATIONS_DIR + file, 'utf8');
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
        this.log.info({ migration: file }, 'migration applied');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(727274)').catch(() => {});
      await client.end().catch(() => {});
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private map(err: unknown): unknown {
    return isDependencyError(err) ? unavailable('postgres') : err;
  }
}
