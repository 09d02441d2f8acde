import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { StackDefinition } from '../config/target.ts';

/**
 * The shape of a stack that every provider must agree on: which services run,
 * and which links (Toxiproxy proxies) connect them. The local provider reads it
 * from the profile's StackDefinition; the compose provider from
 * docker-compose.yml and its toxiproxy.json. A test keeps the two equal.
 */
export interface Topology {
  /** Service names, sorted; Toxiproxy itself is plumbing, not a service. */
  services: string[];
  /** Sorted by name, then from. */
  links: TopologyLink[];
  /** The link clients use, when exactly one link starts at the client. */
  entry?: string;
}

export interface TopologyLink {
  name: string;
  /** `client` (the harness) or a service name. */
  from: string;
  to: string;
  /** False for a connection that bypasses Toxiproxy, which no fault can reach. */
  proxied: boolean;
}

/** `client-app: client→app`, or `app-postgres: app→postgres (direct, bypasses toxiproxy)`. */
export function describeLink(l: TopologyLink): string {
  return `${l.name}: ${l.from}→${l.to}${l.proxied ? '' : ' (direct, bypasses toxiproxy)'}`;
}

function normalize(services: Iterable<string>, links: TopologyLink[], entry?: string): Topology {
  const sorted = [...links].sort((a, b) => a.name.localeCompare(b.name) || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  return { services: [...new Set(services)].sort(), links: sorted, ...(entry ? { entry } : {}) };
}

/** The topology the local provider starts for a StackDefinition. */
export function stackTopology(def: StackDefinition): Topology {
  return normalize(
    Object.keys(def.services),
    def.links.map((l) => ({ name: l.name, from: l.from, to: l.to, proxied: true })),
    def.entry,
  );
}

/** Differences between two topologies, one line each; empty when they are equal. */
export function diffTopology(expected: Topology, actual: Topology, names: { expected: string; actual: string }): string[] {
  const out: string[] = [];
  const only = (a: string[], b: string[]) => a.filter((x) => !b.includes(x));
  for (const s of only(expected.services, actual.services)) out.push(`service "${s}" only in ${names.expected}`);
  for (const s of only(actual.services, expected.services)) out.push(`service "${s}" only in ${names.actual}`);
  const e = expected.links.map(describeLink);
  const a = actual.links.map(describeLink);
  for (const l of only(e, a)) out.push(`link "${l}" only in ${names.expected}`);
  for (const l of only(a, e)) out.push(`link "${l}" only in ${names.actual}`);
  if (expected.entry !== actual.entry) out.push(`entry link is "${expected.entry ?? 'none'}" in ${names.expected} but "${actual.entry ?? 'none'}" in ${names.actual}`);
  return out;
}

// ── docker-compose.yml ───────────────────────────────────────────────────────

/** Go durations as compose accepts them: `1s`, `500ms`, `1m30s`. */
const duration = z.string().regex(/^(\d+(\.\d+)?(us|ms|s|m|h))+$/, 'must be a duration like 1s, 500ms or 1m30s');
const envValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const dependencyCondition = z.enum(['service_started', 'service_healthy', 'service_completed_successfully']);

/**
 * The subset of the Compose Specification that docker-compose.yml uses, strict,
 * so that a typo (`healtcheck`, `depend_on`) fails here rather than being
 * ignored at run time. Used when no `docker compose config` is at hand (no
 * engine or no compose plugin), and by the compose provider before it starts anything.
 */
export const composeServiceSchema = z
  .object({
    image: z.string().min(1).optional(),
    build: z
      .union([z.string().min(1), z.object({ context: z.string().min(1), dockerfile: z.string().min(1).optional(), args: z.record(z.string(), envValue).optional() }).strict()])
      .optional(),
    command: z.union([z.string(), z.array(z.string())]).optional(),
    environment: z.union([z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'), envValue), z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(=.*)?$/s))]).optional(),
    ports: z.array(z.union([z.string().regex(/^((\d{1,3}(\.\d{1,3}){3}:)?(\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp))?$/, 'must be [[ip:]host:]container[/proto]'), z.number().int().positive()])).optional(),
    volumes: z.array(z.string().regex(/^[^:]+:\/[^:]*(:(ro|rw))?$/, 'must be source:/target[:ro|rw]')).optional(),
    depends_on: z.union([z.array(z.string()), z.record(z.string(), z.object({ condition: dependencyCondition, restart: z.boolean().optional() }).strict())]).optional(),
    healthcheck: z
      .object({
        test: z.union([z.string(), z.array(z.string()).min(2).refine((t) => ['CMD', 'CMD-SHELL', 'NONE'].includes(t[0]!), 'must start with CMD, CMD-SHELL or NONE')]),
        interval: duration.optional(),
        timeout: duration.optional(),
        retries: z.number().int().positive().optional(),
        start_period: duration.optional(),
      })
      .strict()
      .optional(),
    user: z.string().optional(),
    stop_grace_period: duration.optional(),
  })
  .strict()
  .refine((s) => s.image !== undefined || s.build !== undefined, 'needs an image or a build');

export const composeFileSchema = z
  .object({
    name: z.string().optional(),
    services: z.record(z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'must be a lowercase service name'), composeServiceSchema),
  })
  .strict()
  .superRefine((file, ctx) => {
    for (const [name, svc] of Object.entries(file.services)) {
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on.map((d) => [d, 'service_started'] as const) : Object.entries(svc.depends_on ?? {}).map(([d, v]) => [d, v.condition] as const);
      for (const [dep, condition] of deps) {
        if (!file.services[dep]) ctx.addIssue({ code: 'custom', path: ['services', name, 'depends_on'], message: `names no service "${dep}"` });
        else if (condition === 'service_healthy' && !file.services[dep]!.healthcheck) ctx.addIssue({ code: 'custom', path: ['services', name, 'depends_on', dep], message: `waits for "${dep}" to be healthy but "${dep}" has no healthcheck` });
      }
      // Compose interpolates `$VAR` and `${VAR...}`; any other `$` must be written `$$`.
      for (const [key, value] of Object.entries(Array.isArray(svc.environment) ? {} : (svc.environment ?? {}))) {
        if (typeof value === 'string' && /\$(?!\$|\{[A-Za-z_][A-Za-z0-9_]*(:?[-?+][^}]*)?\}|[A-Za-z_])/.test(value.replace(/\$\$/g, ''))) {
          ctx.addIssue({ code: 'custom', path: ['services', name, 'environment', key], message: 'has a `$` that is not a valid interpolation; write `$$` for a literal dollar' });
        }
      }
    }
  });

export type ComposeFile = z.infer<typeof composeFileSchema>;
export type ComposeService = z.infer<typeof composeServiceSchema>;

/** One proxy of Toxiproxy's `-config` file. */
export const toxiproxyConfigSchema = z.array(
  z
    .object({
      name: z.string().min(1),
      listen: z.string().regex(/^[^:]*:\d+$/, 'must be host:port'),
      upstream: z.string().regex(/^[^:]+:\d+$/, 'must be host:port'),
      enabled: z.boolean().optional(),
    })
    .strict(),
);
export type ToxiproxyProxyConfig = z.infer<typeof toxiproxyConfigSchema>[number];

/** A parse failure as one line: the file, the field and the rule. */
export class TopologySourceError extends Error {}

function firstIssue(file: string, error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${file}: ${issue.path.join('.') || '(root)'} ${issue.message}`;
}

/** Parses and validates docker-compose.yml text. Throws TopologySourceError naming the field. */
export function parseComposeFile(text: string, file = 'docker-compose.yml'): ComposeFile {
  let raw: unknown;
  try {
    raw = parseYaml(text, { strict: true, uniqueKeys: true });
  } catch (err) {
    throw new TopologySourceError(`${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = composeFileSchema.safeParse(raw);
  if (!parsed.success) throw new TopologySourceError(firstIssue(file, parsed.error));
  return parsed.data;
}

/** Parses and validates Toxiproxy's JSON config. */
export function parseToxiproxyConfig(text: string, file = 'toxiproxy.json'): ToxiproxyProxyConfig[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TopologySourceError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = toxiproxyConfigSchema.safeParse(raw);
  if (!parsed.success) throw new TopologySourceError(firstIssue(file, parsed.error));
  return parsed.data;
}

/** Environment of a compose service as a map, whichever syntax it uses. */
export function composeEnvironment(svc: ComposeService): Record<string, string> {
  if (Array.isArray(svc.environment)) {
    return Object.fromEntries(svc.environment.map((e) => {
      const i = e.indexOf('=');
      return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Container ports a service publishes on the host. */
export function publishedPorts(svc: ComposeService): number[] {
  return (svc.ports ?? []).map((p) => Number(String(p).replace(/\/(tcp|udp)$/, '').split(':').at(-1)));
}

const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const hostOf = (hostPort: string) => hostPort.slice(0, hostPort.lastIndexOf(':'));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The compose service that runs Toxiproxy: the one with the Toxiproxy image. */
export function toxiproxyServiceName(compose: ComposeFile): string | undefined {
  return Object.entries(compose.services).find(([, s]) => s.image?.startsWith('ghcr.io/shopify/toxiproxy'))?.[0];
}

/**
 * The topology of docker-compose.yml. Links come from the Toxiproxy proxies:
 * a proxy leads to its upstream's service and starts at every service whose
 * environment names `toxiproxy:<listen port>`, or at the client when no
 * service uses it and Toxiproxy publishes its port. An environment value that
 * names another service's `host:port` directly is reported as an unproxied
 * link, so that a bypass of Toxiproxy makes the topologies differ.
 */
export function composeTopology(compose: ComposeFile, proxies: ToxiproxyProxyConfig[]): Topology {
  const toxi = toxiproxyServiceName(compose);
  const services = Object.keys(compose.services).filter((s) => s !== toxi);
  const envs = new Map(services.map((s) => [s, composeEnvironment(compose.services[s]!)]));
  const published = toxi ? publishedPorts(compose.services[toxi]!) : [];
  const mentions = (value: string, host: string, port?: number) => new RegExp(`(^|[^A-Za-z0-9_.-])${escape(host)}:${port ?? '\\d+'}(?!\\d)`).test(value);

  const links: TopologyLink[] = [];
  for (const p of proxies) {
    const port = portOf(p.listen);
    const to = hostOf(p.upstream);
    const from = toxi ? services.filter((s) => Object.values(envs.get(s)!).some((v) => mentions(v, toxi, port))) : [];
    if (from.length === 0) from.push(published.includes(port) ? 'client' : '(nobody)');
    for (const f of from) links.push({ name: p.name, from: f, to, proxied: true });
  }
  for (const s of services) {
    for (const other of services) {
      if (other !== s && Object.values(envs.get(s)!).some((v) => mentions(v, other))) links.push({ name: `${s}-${other}`, from: s, to: other, proxied: false });
    }
  }
  const entries = links.filter((l) => l.from === 'client');
  return normalize(services, links, entries.length === 1 ? entries[0]!.name : undefined);
}
