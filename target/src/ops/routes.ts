import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';

const HIDE = { schema: { hide: true } } as const;

/** Liveness, readiness (Postgres and Redis), Prometheus metrics and the OpenAPI document. */
export function registerOpsRoutes(app: FastifyInstance, s: Services): void {
  app.get('/healthz', HIDE, async () => ({ status: 'ok' }));

  app.get('/readyz', HIDE, async (_req, reply) => {
    const checks = await Promise.allSettled([s.db.ping(), s.redis.ping()]);
    const [pgCheck, redisCheck] = checks;
    const body = {
      status: checks.every((c) => c.status === 'fulfilled') ? 'ready' : 'not_ready',
      postgres: pgCheck!.status === 'fulfilled' ? 'ok' : 'down',
      redis: redisCheck!.status === 'fulfilled' ? 'ok' : 'down',
    };
    return reply.status(body.status === 'ready' ? 200 : 503).send(body);
  });

  app.get('/metrics', HIDE, async (_req, reply) => {
    reply.header('content-type', s.metrics.registry.contentType);
    return s.metrics.registry.metrics();
  });

  app.get('/openapi.json', HIDE, async () => app.swagger());
}
