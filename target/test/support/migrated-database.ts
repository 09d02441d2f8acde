import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { Database } from '../../src/db.ts';
import { freshDatabase } from './target.ts';

/**
 * A fresh database with the target's migrations already applied, by the
 * target's own migrator under a generous timeout. An instance started with a
 * short DEPENDENCY_TIMEOUT_MS would otherwise run its migrations under that
 * timeout, which a busy host exceeds.
 */
export async function migratedDatabase(): Promise<string> {
  const databaseUrl = await freshDatabase();
  const config = loadConfig({ DATABASE_URL: databaseUrl, REDIS_URL: 'redis://unused', JWT_SECRET: 'migration-only-secret', DEPENDENCY_TIMEOUT_MS: '60000' });
  const db = new Database(config, pino({ level: 'silent' }));
  try {
    await db.migrate();
  } finally {
    await db.close();
  }
  return databaseUrl;
}
