import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { DestinationStream } from 'pino';
import { Auth, bearer, type Principal } from './auth.ts';
import { Bus } from './bus.ts';
import type { TargetConfig } from './config.ts';
import { Database } from './db.ts';
import { HttpError } from './errors.ts';
import { Membership } from './membership.ts';
import { Messages } from './messages.ts';
import { createLogger } from './ops/logger.ts';
import { Metrics } from './ops/metrics.ts';
import { registerOpsRoutes } from './ops/routes.ts';
import { createRedis } from './redis.ts';
import type { Services } from './services.ts';
import { registerHttpRoutes } from './http/index.ts';
import { attachWebSocket, type RealtimeServer } from './ws/server.ts';
import { registerPreviewRoutes } from './preview/routes.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `app.authenticate(req)`. */
    principal?: Principal;
  }
  interface FastifyInstance {
    services: Services;
    /** Resolves the bearer token into a principal, or throws 401. */
    authenticate(req: FastifyRequest): Promise<Principal>;
  }
}

export interface TargetApp {
  app: FastifyInstance;
  services: Services;
  realtime: RealtimeServer;
  /** Listens on config.port (0 = any free port) and returns the bound URL. */
  listen(): Promise<string>;
  /** Graceful shutdown: stop accepting, close sockets, drain, close pools. Idempotent. */
  close(): Promise<void>;
}

export interface BuildOptions {
  /** Where logs go (default stdout). Tests pass a stream to read them. */
  logDestination?: DestinationStream;
}

/** Builds the whole service around one config. Nothing listens until `listen()`. */
export async function buildApp(config: TargetConfig, options: BuildOptions = {}): Promise<TargetApp> {
  const log = createLogger(config, options.logDestination);
  const metrics = new Metrics();
  const db = new Database(config, log);
  const redis = createRedis(config, log, 'commands');
  const sub = createRedis(config, log, 'subscriber');
  await Promise.all([redis.connect(), sub.connect()]);
  await db.migrate();
  const bus = new Bus(redis, sub, log);
  await bus.start();
  const auth = new Auth(config, db);
  const membership = new Membership(config, db, redis);
  const messages = new Messages(config, db, bus, log);
  const services: Services = { config, log, db, redis, sub, auth, membership, messages, bus, metrics };

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: 2 * 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  app.decorate('services', services);
  app.decorate('authenticate', async (req: FastifyRequest) => {
    if (!req.principal) req.principal = await auth.authenticate(bearer(req.headers.authorization));
    return req.principal;
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof HttpError) {
      if (err.status === 503) metrics.dependencyErrors.inc({ dependency: /redis/.test(err.message) ? 'redis' : 'postgres' });
      return reply.status(err.status).headers(err.headers).send({ error: err.code, message: err.message });
    }
    const e = err as { validation?: unknown; statusCode?: number; code?: string; message: string };
    if (e.validation) return reply.status(400).send({ error: 'validation_failed', message: e.message });
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ error: (e.code ?? 'bad_request').toLowerCase(), message: e.message });
    }
    req.log.error({ err: e.message }, 'unhandled error');
    return reply.status(500).send({ error: 'internal', message: 'internal error' });
  });
  app.setNotFoundHandler((_req, reply) => reply.status(404).send({ error: 'not_found', message: 'no such route' }));

  await app.register(swagger, {
    openapi: {
      info: { title: 'Breakwater reference target', version: '0.1.0', description: 'Multi-tenant realtime chat service' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });

  registerOpsRoutes(app, services);
  registerHttpRoutes(app, services);
  registerPreviewRoutes(app, services);
  await app.ready();
  const realtime = attachWebSocket(app.server, services);

  let closing: Promise<void> | undefined;
  return {
    app,
    services,
    realtime,
    async listen() {
      return app.listen({ port: config.port, host: config.host });
    },
    close() {
      closing ??= (async () => {
        const errors: unknown[] = [];
        const step = async (fn: () => Promise<unknown>) => {
          try {
            await fn();
          } catch (e) {
            errors.push(e);
          }
        };
        await step(() => realtime.close());
        await step(() => app.close());
        await step(() => db.close());
        await step(async () => sub.disconnect());
        await step(async () => redis.disconnect());
        if (errors.length) log.warn({ errors: errors.map((e) => (e as Error).message) }, 'errors during shutdown');
      })();
      return closing;
    },
  };
}
