import pg from 'pg';

/** Holds `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE` in its own transaction until released. */
export interface TableLock {
  release(): Promise<void>;
}

export async function lockTable(databaseUrl: string, table: string): Promise<TableLock> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query('BEGIN');
  await c.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= c.query('ROLLBACK').then(
        () => c.end(),
        () => c.end(),
      );
      return released;
    },
  };
}

/** Whether message rows with these ids exist, read on a fresh connection. */
export async function storedMessageIds(databaseUrl: string, ids: string[]): Promise<Set<string>> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ id: string }>('SELECT id FROM messages WHERE id = ANY($1::uuid[])', [ids]);
    return new Set(rows.map((r) => r.id));
  } finally {
    await c.end();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it is true or `ms` pass; returns the elapsed time, or null when it never became true. */
export async function within(ms: number, check: () => Promise<boolean>, everyMs = 100): Promise<number | null> {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (await check()) return Date.now() - start;
    await sleep(everyMs);
  }
  return null;
}

/** A request that is given up after `ms`: resolves to the response, or to 'pending' when it had not answered. */
export async function requestWithin(url: string, init: RequestInit, ms: number): Promise<Response | 'pending'> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return await fetch(url, { ...init, signal: ac.signal });
  } catch (err) {
    if (ac.signal.aborted) return 'pending';
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
