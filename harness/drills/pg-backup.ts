import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BreakwaterError } from '../errors.ts';
import type { ProcessControl, StackInfo } from '../stack/types.ts';
import { connectionArgs, psql, quoteIdent, quoteLiteral, runPgTool, type PgServer, type PgTools } from './pg-tools.ts';

/** The runbook steps of a logical backup and restore, one function each, with plain Postgres programs. */

interface StepOptions {
  signal?: AbortSignal;
  timeoutMs: number;
}

/** `pg_dump -Fc` of one database into `file`; returns the dump's size in bytes. The dump is one consistent snapshot, taken when pg_dump starts its transaction. */
export async function dumpDatabase(tools: PgTools, server: PgServer, database: string, file: string, opts: StepOptions): Promise<number> {
  await runPgTool(tools.pgDump, [...connectionArgs(server), '-Fc', '-f', file, '-d', database], { what: `pg_dump of "${database}"`, ...opts });
  return statSync(file).size;
}

/**
 * Drops a database while its clients are connected: new connections are
 * refused first, then every session on it is terminated, then it is dropped
 * (DROP DATABASE waits for terminated backends to exit and checkpoints).
 * Returns how many sessions were terminated and when: `cutAt` is the
 * server's clock (epoch ms) just before the terminations, the moment clients
 * lost the database; the statements around it may take far longer.
 */
export async function dropDatabase(tools: PgTools, server: PgServer, database: string, opts: StepOptions): Promise<{ terminated: number; cutAt: number }> {
  const out = await psql(
    tools,
    server,
    'postgres',
    [
      `ALTER DATABASE ${quoteIdent(database)} WITH ALLOW_CONNECTIONS false`,
      'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint',
      `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ${quoteLiteral(database)} AND pid <> pg_backend_pid()`,
      `DROP DATABASE ${quoteIdent(database)}`,
    ],
    { what: `dropping database "${database}"`, ...opts },
  );
  const [cutAt, terminated] = out.trim().split('\n').map(Number);
  if (!Number.isFinite(cutAt) || !Number.isFinite(terminated)) throw new BreakwaterError('BW_STACK_FAULT', `dropping database "${database}": psql answered ${JSON.stringify(out.slice(0, 80))}, expected a time and a count`);
  return { terminated: terminated!, cutAt: cutAt! };
}

/**
 * Undoes an unfinished drop: when the database still exists (the drop failed
 * before DROP DATABASE), connections are allowed again and true is returned;
 * false when it is gone and must be restored.
 */
export async function reopenIfPresent(tools: PgTools, server: PgServer, database: string, opts: StepOptions): Promise<boolean> {
  const out = await psql(tools, server, 'postgres', [`SELECT count(*) FROM pg_database WHERE datname = ${quoteLiteral(database)}`], { what: `looking up database "${database}"`, ...opts });
  if (Number(out.trim()) === 0) return false;
  await psql(tools, server, 'postgres', [`ALTER DATABASE ${quoteIdent(database)} WITH ALLOW_CONNECTIONS true`], { what: `allowing connections to "${database}" again`, ...opts });
  return true;
}

/**
 * Restores a custom-format dump under the database's name. It is restored
 * into a new staging database (from template0) and renamed only once
 * pg_restore has finished: clients that reconnect meanwhile find no database
 * instead of a half-restored one (tables without their rows, sequences not
 * yet set, constraints not yet built). A failed restore drops the staging
 * database and rethrows.
 */
export async function restoreDatabase(tools: PgTools, server: PgServer, database: string, file: string, opts: StepOptions): Promise<{ staging: string }> {
  const staging = `${database.slice(0, 40)}_restore_${randomBytes(4).toString('hex')}`;
  const step = (what: string) => ({ what, ...opts });
  await psql(tools, server, 'postgres', [`CREATE DATABASE ${quoteIdent(staging)} TEMPLATE template0`], step(`creating database "${staging}"`));
  try {
    await runPgTool(tools.pgRestore, [...connectionArgs(server), '-d', staging, '--exit-on-error', file], step(`pg_restore into "${staging}"`));
    await psql(tools, server, 'postgres', [`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(database)}`], step(`renaming "${staging}" to "${database}"`));
  } catch (err) {
    // Not bound to the run's abort: an interrupted restore still removes its staging database.
    await psql(tools, server, 'postgres', [`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`], { what: `dropping "${staging}"`, timeoutMs: 15_000 }).catch(() => {});
    throw err;
  }
  return { staging };
}

/**
 * The local provider's data directory of a Postgres service, and the user
 * that owns it (initdb and postgres must not run as root). Throws when the
 * stack is not the local provider's, since only it keeps the data directory
 * where the harness can reach it.
 */
export function localDataDir(info: StackInfo, service: string): { dataDir: string; owner?: { uid: number; gid: number } } {
  // The local provider initialises `<workDir>/<service>-data` (local-provider.ts, initPostgres).
  const dataDir = info.workDir ? join(info.workDir, `${service}-data`) : undefined;
  if (info.provider !== 'local' || !dataDir || !existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new BreakwaterError(
      'BW_USAGE',
      `disaster "destroy-data-dir" needs the local provider's Postgres data directory${dataDir ? ` (${dataDir} holds no cluster)` : ''}; this stack is provider ${info.provider}: use disaster "drop-database"`,
    );
  }
  const st = statSync(info.workDir!);
  return { dataDir, owner: process.getuid?.() === 0 ? { uid: st.uid, gid: st.gid } : undefined };
}

/** The disaster: Postgres killed (SIGKILL, like a lost machine) and its data directory deleted. */
export async function destroyDataDir(processes: ProcessControl, service: string, dataDir: string): Promise<void> {
  await processes.kill(service, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}

/**
 * A fresh, empty cluster in place of the destroyed one, started by the
 * provider with the same port: initdb with the local provider's settings
 * (superuser `postgres`, trust authentication on 127.0.0.1, UTF8), then the
 * provider's restart, which waits until Postgres accepts connections.
 */
export async function recreateCluster(tools: PgTools, processes: ProcessControl, service: string, dir: { dataDir: string; owner?: { uid: number; gid: number } }, opts: StepOptions): Promise<void> {
  await runPgTool(tools.initdb, ['-D', dir.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
    what: `initdb of "${service}"`,
    uid: dir.owner?.uid,
    gid: dir.owner?.gid,
    ...opts,
  });
  await processes.restart(service);
}
