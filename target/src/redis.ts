import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TargetConfig } from './config.ts';
import { unavailable } from './errors.ts';

/**
 * Creates a Redis connection with a command timeout and automatic reconnect.
 * Commands fail fast while disconnected (no offline queue), so a Redis outage
 * becomes a 503 instead of a hang.
 */
export function createRedis(config: TargetConfig, log: Logger, role: string): Redis {
  const noReconnect = config.flaws.has('no-redis-reconnect');
  const client = new Redis(config.redisUrl, {
    commandTimeout: config.dependencyTimeoutMs,
    connectTimeout: config.dependencyTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: role === 'subscriber',
    lazyConnect: true,
    retryStrategy: noReconnect ? () => null : (times) => Math.min(50 * times, 500),
  });
  client.on('error', (err) => log.debug({ err: err.message, role }, 'redis error'));
  client.on('ready', () => log.info({ role }, 'redis ready'));
  client.on('end', () => log.warn({ role }, 'redis connection ended'));
  return client;
}

/** Runs a Redis call, turning connection errors and timeouts into a 503. */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const msg = (err as Error).message ?? '';
    if (/timed out|Stream isn't writeable|Connection is closed|ECONN|max retries|EPIPE|enableOfflineQueue/i.test(msg)) {
      throw unavailable('redis');
    }
    throw err;
  }
}
