import { z } from 'zod';
import { spanMs, type Span } from './scenario.ts';

const fn = (what: string) => z.custom<(...args: any[]) => unknown>((v) => typeof v === 'function', { message: `must be a function (${what})` });
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a name of letters, digits, "_", "." or "-"');
const nonEmpty = z.string().min(1, 'must not be empty');

const postgres = z.object({ kind: z.literal('postgres'), database: name, image: nonEmpty.optional() }).strict();
const redis = z.object({ kind: z.literal('redis'), image: nonEmpty.optional() }).strict();
const processService = z
  .object({
    kind: z.literal('process'),
    command: z.array(nonEmpty).min(1, 'must list at least the program'),
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).optional(),
    passEnv: z.array(nonEmpty).optional(),
    health: z.object({ path: z.string().startsWith('/', 'must start with "/"'), timeoutMs: z.number().int().positive().optional() }).strict(),
    build: z.object({ context: nonEmpty, dockerfile: nonEmpty }).strict().optional(),
    containerPort: z.number().int().min(1).max(65535).optional(),
  })
  .strict();

const stack = z
  .object({
    services: z.record(name, z.discriminatedUnion('kind', [postgres, redis, processService], { message: 'kind must be "postgres", "redis" or "process"' })),
    links: z.array(z.object({ name, from: name, to: name }).strict()).min(1, 'must declare at least the client link'),
    entry: name,
  })
  .strict()
  .superRefine((s, ctx) => {
    const services = Object.keys(s.services);
    const links = new Set<string>();
    s.links.forEach((l, i) => {
      if (links.has(l.name)) ctx.addIssue({ code: 'custom', path: ['links', i, 'name'], message: `duplicate link "${l.name}"` });
      links.add(l.name);
      if (!services.includes(l.to)) ctx.addIssue({ code: 'custom', path: ['links', i, 'to'], message: `names no service (services: ${services.join(', ')})` });
      if (l.from !== 'client' && !services.includes(l.from)) ctx.addIssue({ code: 'custom', path: ['links', i, 'from'], message: `must be "client" or a service` });
    });
    const entry = s.links.find((l) => l.name === s.entry);
    if (!entry) ctx.addIssue({ code: 'custom', path: ['entry'], message: `names no link (links: ${[...links].join(', ')})` });
    else if (entry.from !== 'client') ctx.addIssue({ code: 'custom', path: ['entry'], message: 'must be a link from "client"' });
    else if (s.services[entry.to]?.kind !== 'process') ctx.addIssue({ code: 'custom', path: ['entry'], message: 'must lead to a "process" service' });
  });

const principal = z
  .object({
    tenant: nonEmpty,
    role: nonEmpty,
    kind: z.enum(['user', 'bot']),
    scopes: z.array(nonEmpty).optional(),
    login: fn('async (ctx) => credentials'),
  })
  .strict();

const route = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    path: z.string().startsWith('/', 'must start with "/"'),
    body: fn('(ctx) => body').optional(),
    contentType: nonEmpty.optional(),
  })
  .strict();

const resource = z
  .object({
    scope: z.enum(['user', 'channel', 'tenant']),
    create: fn('async (ctx) => instance'),
    operations: z.record(nonEmpty, route).refine((o) => Object.keys(o).length > 0, 'must declare at least one operation'),
    policy: fn('(principal, op, instance, world) => "allow" | "deny"'),
    destructive: z.array(nonEmpty).optional(),
    check: z.string().regex(/^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/, 'must be a dotted check id like "isolation.uploads"').optional(),
  })
  .strict();

const realtimeEvent = z
  .object({
    frame: fn('(room, payload) => frame'),
    arbitrary: z.custom((v) => !!v && typeof (v as { generate?: unknown }).generate === 'function', { message: 'must be a fast-check arbitrary' }),
    limits: z.object({ ratePerSecond: z.number().positive(), burst: z.number().int().positive(), maxBytes: z.number().int().positive(), per: z.enum(['principal', 'connection']).optional(), maxBytesOf: z.enum(['frame', 'payload']).optional() }).strict(),
    delivered: fn('(frame) => payload id').optional(),
    relay: z.boolean().optional(),
    scope: nonEmpty.optional(),
  })
  .strict();

const realtime = z
  .object({
    path: z.string().startsWith('/', 'must start with "/"'),
    auth: z.enum(['headers', 'cookies', 'query']),
    rooms: fn('(world) => rooms'),
    join: z.object({ frame: fn('(room) => frame'), accepted: fn('(frame, room) => boolean'), refused: fn('(frame, room) => boolean') }).strict(),
    events: z.record(nonEmpty, realtimeEvent),
    rateLimitSignal: z.object({ frame: fn('(frame) => boolean').optional(), closeCode: z.number().int().optional() }).strict(),
    rejectSignal: z.object({ frame: fn('(frame) => boolean').optional(), closeCodes: z.array(z.number().int()).optional() }).strict(),
    binaryFrames: z.enum(['reject', 'text', 'allowed']).optional(),
    scope: nonEmpty.optional(),
    revocable: fn('async (ctx) => ({ room, member, revoke })').optional(),
  })
  .strict();

const tokens = z
  .object({
    format: z.literal('jwt'),
    header: nonEmpty.optional(),
    signing: z
      .object({
        alg: z.literal('HS256'),
        secret: z.union([z.object({ stackSecret: nonEmpty }).strict(), z.object({ env: nonEmpty }).strict()], { message: 'must be { stackSecret: NAME } or { env: NAME }' }),
      })
      .strict()
      .optional(),
    requiredClaims: z.array(nonEmpty).optional(),
    suspended: fn('async (ctx) => credentials').optional(),
  })
  .strict();

const severity = z.enum(['critical', 'high', 'medium', 'low']);

// spanMs is called only while parsing: scenario.ts imports this module (through resolve-target.ts), so its values may not exist yet at load.
const DURATION = 'must be a duration: milliseconds, or "300ms", "10s", "2m"';
const objectiveSpan = z
  .union([z.number(), z.string()], { error: (issue) => (issue.input === undefined ? 'is required (a duration like "30s")' : DURATION) })
  .refine((v) => spanMs(v as Span) !== undefined, DURATION)
  .refine((v) => (spanMs(v as Span) ?? 1) > 0, 'must be more than 0');
const recovery = z.object({ rto: objectiveSpan, rpo: objectiveSpan }).strict();

const integrity = z
  .object({
    channels: fn('(world) => channels'),
    http: z
      .object({
        method: z.enum(['POST', 'PUT']),
        path: z.string().startsWith('/', 'must start with "/"'),
        body: fn('(write) => body'),
      })
      .strict()
      .optional(),
    realtime: z
      .object({
        frame: fn('(channel, write) => frame'),
        acked: fn('(frame, ref) => boolean'),
        rejected: fn('(frame, ref) => boolean').optional(),
      })
      .strict()
      .optional(),
    history: fn('async (ctx) => payload texts'),
  })
  .strict()
  .refine((i) => i.http || i.realtime, 'must declare a way to write: http, realtime or both');

export const targetProfileSchema = z
  .object({
    name,
    description: z.string().optional(),
    stack,
    seed: fn('async (ctx) => world'),
    principals: z.record(name, principal).refine((p) => Object.keys(p).length > 0, 'must declare at least one principal'),
    resources: z.record(name, resource),
    deny: z.object({ statuses: z.array(z.number().int().min(100).max(599)).min(1, 'must list at least one status'), emptyBody: fn('(body) => boolean').optional() }).strict(),
    realtime: realtime.optional(),
    egress: z
      .array(
        z
          .object({
            name,
            method: z.enum(['POST', 'GET']),
            path: z.string().startsWith('/', 'must start with "/"'),
            as: nonEmpty,
            body: fn('(url) => body'),
            blocked: fn('(status, body) => boolean'),
            testOriginEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name').optional(),
          })
          .strict(),
      )
      .optional(),
    ssrf: z
      .object({
        offHostTargets: z
          .union([z.enum(['skip', 'allow']), z.object({ pr: z.enum(['skip', 'allow']).optional(), nightly: z.enum(['skip', 'allow']).optional(), drill: z.enum(['skip', 'allow']).optional() }).strict()], {
            error: 'must be "skip", "allow", or per tier like { nightly: "allow" }',
          })
          .optional(),
      })
      .strict()
      .optional(),
    slos: z.array(
      z
        .object({
          id: name,
          indicator: z.enum(['http_latency_p95_ms', 'http_error_rate', 'ws_delivery_p95_ms', 'ws_reconnect_success_rate', 'readiness']),
          objective: z.number().nonnegative(),
          window: z.string().regex(/^\d+(ms|s|m|h)$/, 'must be a duration like "30s" or "5m"'),
          description: z.string().optional(),
          strict: z.boolean().optional(),
        })
        .strict(),
    ),
    secrets: z.object({ values: z.array(z.string()).optional(), pii: z.array(z.string()).optional() }).strict().optional(),
    severity: z.record(nonEmpty, severity).optional(),
    tokens: tokens.optional(),
    integrity: integrity.optional(),
    recovery: recovery.optional(),
    cache: z.object({ paths: fn('(world) => [{ tenant, path }]') }).strict().optional(),
    httpLimits: z
      .array(
        z
          .object({
            name,
            method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
            path: z.string().startsWith('/', 'must start with "/"'),
            as: z.string().min(1).nullable(),
            body: fn('(ctx) => body').optional(),
            limit: z.number().int().positive(),
            windowSeconds: z.number().positive(),
            signal: z.object({ status: z.number().int().min(400).max(599), retryAfter: z.boolean().optional() }).strict(),
          })
          .strict(),
      )
      .optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const [key, pr] of Object.entries(p.principals)) {
      if (pr.kind === 'bot' && !pr.scopes) ctx.addIssue({ code: 'custom', path: ['principals', key, 'scopes'], message: 'a bot must declare its scopes' });
    }
    for (const [i, e] of (p.egress ?? []).entries()) {
      if (!p.principals[e.as]) ctx.addIssue({ code: 'custom', path: ['egress', i, 'as'], message: `names no principal` });
    }
    if (p.integrity?.realtime && !p.realtime) {
      ctx.addIssue({ code: 'custom', path: ['integrity', 'realtime'], message: 'needs the profile\'s realtime (its path and auth) to connect' });
    }
  });
