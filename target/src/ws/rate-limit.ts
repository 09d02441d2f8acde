import type { Redis } from 'ioredis';
import type { Services } from '../services.ts';
import { redisCall } from '../redis.ts';

/** The outcome of spending one token. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** Charges one token per client frame. Rejects with a 503 HttpError when the bucket's store is unavailable. */
export interface SocketRateLimiter {
  take(): Promise<RateDecision>;
}

export interface BucketShape {
  burst: number;
  perSecond: number;
}

/**
 * Token bucket in one Redis hash, refilled from Redis' own clock so that every
 * app instance agrees on elapsed time. Returns {allowed (0|1), retryAfterMs}.
 */
const TAKE_TOKEN_LUA = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
  ts = now
end
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
elseif rate > 0 then
  retry = math.ceil((1 - tokens) * 1000 / rate)
else
  retry = 60000
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)
local ttl = 60000
if rate > 0 then ttl = math.ceil(capacity * 1000 / rate) + 1000 end
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, retry}
`;

type TakeTokenCommand = (key: string, capacity: number, perSecond: number) => Promise<[number, number]>;
const COMMAND = 'bwTakeSocketToken';
const defined = new WeakSet<Redis>();

function takeTokenCommand(redis: Redis): TakeTokenCommand {
  if (!defined.has(redis)) {
    redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: TAKE_TOKEN_LUA });
    defined.add(redis);
  }
  const fn = (redis as unknown as Record<string, TakeTokenCommand>)[COMMAND]!;
  return fn.bind(redis);
}

/** Redis key of a user's socket bucket. */
export const socketBucketKey = (userId: string) => `bw:rl:ws:${userId}`;

/** One bucket per user, shared by all of that user's connections on every instance. */
export class RedisUserBucket implements SocketRateLimiter {
  readonly #take: TakeTokenCommand;
  constructor(
    redis: Redis,
    private readonly key: string,
    private readonly shape: BucketShape,
  ) {
    this.#take = takeTokenCommand(redis);
  }

  async take(): Promise<RateDecision> {
    const [allowed, retryAfterMs] = await redisCall(() => this.#take(this.key, this.shape.burst, this.shape.perSecond));
    return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs };
  }
}

/** The regression behind `rate-limit-per-connection`: a bucket in memory that lives and dies with one socket. */
export class ConnectionBucket implements SocketRateLimiter {
  #tokens: number;
  #last = performance.now();
  constructor(private readonly shape: BucketShape) {
    this.#tokens = shape.burst;
  }

  async take(): Promise<RateDecision> {
    const now = performance.now();
    this.#tokens = Math.min(this.shape.burst, this.#tokens + ((now - this.#last) * this.shape.perSecond) / 1000);
    this.#last = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: this.shape.perSecond > 0 ? Math.ceil(((1 - this.#tokens) * 1000) / this.shape.perSecond) : 60_000 };
  }
}

const unlimited: SocketRateLimiter = { take: async () => ({ allowed: true }) };

/** The limiter for one new connection of `userId`, as the flaw switches dictate. */
export function socketRateLimiter(s: Services, userId: string): SocketRateLimiter {
  if (s.config.flaws.has('no-socket-rate-limit')) return unlimited;
  if (s.config.flaws.has('rate-limit-per-connection')) return new ConnectionBucket(s.config.socketRate);
  return new RedisUserBucket(s.redis, socketBucketKey(userId), s.config.socketRate);
}
