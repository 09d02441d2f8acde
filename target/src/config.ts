import { parseFlaws, type Flaws } from './flaws.ts';

export interface TargetConfig {
  port: number;
  host: string;
  databaseUrl: string;
  redisUrl: string;
  jwtSecret: string;
  /** Access-token lifetime in seconds. */
  tokenTtlSeconds: number;
  flaws: Flaws;
  /** Origins (scheme://host:port) that the link preview may fetch even though they are private; for tests only. */
  previewAllowOrigins: string[];
  /** Client-side timeout for every Postgres query and every Redis command. */
  dependencyTimeoutMs: number;
  /** Socket action token bucket: capacity (burst) and refill rate per second, per user. */
  socketRate: { burst: number; perSecond: number };
  /** Login attempts per email per minute. */
  loginPerMinute: number;
  logLevel: string;
}

export class ConfigError extends Error {}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new ConfigError(`${name} is not set; set it in the environment (see target/README.md)`);
  return v;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name}="${raw}" is not a non-negative integer`);
  return n;
}

/** Reads the service configuration from the environment. Throws ConfigError with a one-line message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): TargetConfig {
  const jwtSecret = required(env, 'JWT_SECRET');
  if (jwtSecret.length < 16) throw new ConfigError('JWT_SECRET is shorter than 16 characters; use a longer random secret');
  let flaws: Flaws;
  try {
    flaws = parseFlaws(env.TARGET_FLAWS);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return {
    port: int(env, 'PORT', 3000),
    host: env.HOST ?? '127.0.0.1',
    databaseUrl: required(env, 'DATABASE_URL'),
    redisUrl: required(env, 'REDIS_URL'),
    jwtSecret,
    tokenTtlSeconds: int(env, 'TOKEN_TTL_SECONDS', 900),
    flaws,
    previewAllowOrigins: (env.PREVIEW_TEST_ALLOW_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    dependencyTimeoutMs: int(env, 'DEPENDENCY_TIMEOUT_MS', 1500),
    socketRate: { burst: int(env, 'SOCKET_RATE_BURST', 20), perSecond: int(env, 'SOCKET_RATE_PER_SECOND', 10) },
    loginPerMinute: int(env, 'LOGIN_RATE_PER_MINUTE', 30),
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}
