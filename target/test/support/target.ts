import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { inject } from 'vitest';
import { buildApp, type TargetApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';

export interface RunningTarget {
  url: string;
  wsUrl: string;
  app: TargetApp;
  databaseUrl: string;
  /** Every log line the instance wrote, raw JSON. */
  logs: string[];
  close(): Promise<void>;
}

/** Creates a fresh database on the shared test Postgres, so test files never see each other's rows. */
export async function freshDatabase(): Promise<string> {
  const { databaseUrl } = inject('targetInfra');
  const name = `t_${randomUUID().replace(/-/g, '')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return databaseUrl.replace(/\/chat$/, `/${name}`);
}

/**
 * Starts one in-process instance of the target with the given flaws and env
 * overrides, on a free port. Pass `databaseUrl` to share a database between
 * instances (two instances fan out to each other through Redis).
 */
export async function startTarget(opts: { flaws?: string[]; env?: Record<string, string>; databaseUrl?: string } = {}): Promise<RunningTarget> {
  const { redisUrl } = inject('targetInfra');
  const databaseUrl = opts.databaseUrl ?? (await freshDatabase());
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    JWT_SECRET: 'test-secret-that-is-long-enough',
    PORT: '0',
    LOG_LEVEL: 'info',
    TARGET_FLAWS: (opts.flaws ?? []).join(','),
    ...opts.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const app = await buildApp(config, { logDestination: sink });
  const url = await app.listen();
  return { url, wsUrl: url.replace(/^http/, 'ws') + '/ws', app, databaseUrl, logs, close: () => app.close() };
}
