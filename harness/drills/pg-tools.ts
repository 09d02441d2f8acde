import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BreakwaterError, oneLine } from '../errors.ts';
import { postgresBinDir } from '../stack/tools.ts';

/** The Postgres client and server programs a backup-and-restore drill runs, from one installation. */
export interface PgTools {
  dir: string;
  pgDump: string;
  pgRestore: string;
  psql: string;
  initdb: string;
}

/** Where a drill reaches a Postgres server: directly, never through Toxiproxy. Authentication is the stack's (`trust` on the local provider). */
export interface PgServer {
  host: string;
  port: number;
  user: string;
}

export interface PgRunOptions {
  /** What the program does, for messages: `pg_dump of "chat"`. */
  what: string;
  /** Killed (SIGKILL) when this aborts; the promise then rejects with BW_INTERRUPTED. */
  signal?: AbortSignal;
  /** Killed (SIGKILL) after this long; the promise then rejects. */
  timeoutMs: number;
  /** Run as this user (initdb refuses to run as root). */
  uid?: number;
  gid?: number;
}

/** Captured output is bounded: a drill reads only the first line of an error and small query results. */
const MAX_STDOUT = 1024 * 1024;
const MAX_STDERR = 64 * 1024;

/**
 * Finds pg_dump, pg_restore, psql and initdb next to the Postgres server that
 * the local provider runs (`postgresBinDir()`), so the dump format always
 * matches the server. Throws BW_TOOL_MISSING with the fix when one is missing.
 */
export function requirePgTools(dir: string | undefined = postgresBinDir()): PgTools {
  const names = { pgDump: 'pg_dump', pgRestore: 'pg_restore', psql: 'psql', initdb: 'initdb' } as const;
  if (!dir) throw new BreakwaterError('BW_TOOL_MISSING', 'Postgres binaries (pg_dump, pg_restore, psql, initdb) not found; run `npx breakwater setup`');
  const missing = Object.values(names).filter((n) => !existsSync(join(dir, n)));
  if (missing.length) throw new BreakwaterError('BW_TOOL_MISSING', `${missing.join(', ')} not found in ${dir}; run \`npx breakwater setup\` (Debian package postgresql)`);
  return { dir, pgDump: join(dir, names.pgDump), pgRestore: join(dir, names.pgRestore), psql: join(dir, names.psql), initdb: join(dir, names.initdb) };
}

/** Connection arguments of every client program: no password prompt, no user config. */
export function connectionArgs(server: PgServer): string[] {
  return ['-h', server.host, '-p', String(server.port), '-U', server.user, '-w'];
}

/**
 * Runs one Postgres program to its end and returns its stdout. A non-zero
 * exit, a timeout or an abort rejects with one line naming the program and
 * the first line of its complaint. The child never outlives the call.
 */
export function runPgTool(bin: string, args: string[], opts: PgRunOptions): Promise<string> {
  if (opts.signal?.aborted) return Promise.reject(new BreakwaterError('BW_INTERRUPTED', `${opts.what}: interrupted before it started`));
  return new Promise((resolve, reject) => {
    // A minimal environment: PG* variables of the harness's shell must not redirect the drill to another server.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', PGCONNECT_TIMEOUT: '5' };
    const child = spawn(bin, args, { env, uid: opts.uid, gid: opts.gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let ended: 'timeout' | 'aborted' | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_STDOUT) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_STDERR) stderr += d;
    });
    const kill = (why: 'timeout' | 'aborted') => {
      ended ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill('timeout'), opts.timeoutMs);
    const onAbort = () => kill('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err) => {
      done();
      reject(new BreakwaterError('BW_TOOL_MISSING', `${opts.what}: could not run ${bin} (${oneLine(err)}); run \`npx breakwater setup\``));
    });
    child.once('close', (code, signal) => {
      done();
      if (ended === 'aborted') return reject(new BreakwaterError('BW_INTERRUPTED', `${opts.what}: interrupted`));
      if (ended === 'timeout') return reject(new BreakwaterError('BW_STACK_FAULT', `${opts.what} did not finish within ${Math.round(opts.timeoutMs / 1000)} s`));
      if (code === 0) return resolve(stdout);
      const complaint = stderr.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'no output';
      reject(new BreakwaterError('BW_STACK_FAULT', `${opts.what} failed (${code !== null ? `exit ${code}` : signal}): ${complaint}`));
    });
  });
}

/** Runs SQL statements with psql against one database, each in its own transaction (DROP DATABASE may not run inside one); returns the unaligned output. */
export function psql(tools: PgTools, server: PgServer, database: string, statements: string[], opts: PgRunOptions): Promise<string> {
  const args = [...connectionArgs(server), '-d', database, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];
  for (const s of statements) args.push('-c', s);
  return runPgTool(tools.psql, args, opts);
}

/** `"name"`, for SQL. Profile database names are letters, digits, `_`, `.` and `-`; quotes are doubled anyway. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `'text'`, for SQL. */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
