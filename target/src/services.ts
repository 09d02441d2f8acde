import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Auth } from './auth.ts';
import type { Bus } from './bus.ts';
import type { TargetConfig } from './config.ts';
import type { Database } from './db.ts';
import type { Membership } from './membership.ts';
import type { Messages } from './messages.ts';
import type { Metrics } from './ops/metrics.ts';

/** Everything a route or socket handler needs, built once per app instance. */
export interface Services {
  config: TargetConfig;
  log: Logger;
  db: Database;
  /** Commands (get/set/eval/publish). */
  redis: Redis;
  /** Dedicated pub/sub subscriber connection. */
  sub: Redis;
  auth: Auth;
  membership: Membership;
  messages: Messages;
  bus: Bus;
  metrics: Metrics;
}
