import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DockerComposeEnvironment,
  getContainerRuntimeClient,
  Wait,
  type ContainerRuntimeClient,
  type StartedDockerComposeEnvironment,
  type StartedTestContainer,
} from 'testcontainers';
import type { ResolvedConfig } from '../config/load-config.ts';
import type { ProcessService, StackDefinition } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import type { ExitRecord } from './managed-process.ts';
import type { StartStackOptions } from './start-stack.ts';
import {
  composeTopology,
  diffTopology,
  parseComposeFile,
  parseToxiproxyConfig,
  stackTopology,
  toxiproxyServiceName,
  TopologySourceError,
  type ComposeFile,
  type Topology,
  type ToxiproxyProxyConfig,
} from './topology.ts';
import { ToxiproxyControl } from './toxiproxy.ts';
import type { ProcessControl, StackInfo, StartedLink, StartedStack, StoppedStack } from './types.ts';

/** The compose file the provider starts, relative to the config's directory. */
export const COMPOSE_FILE = 'docker-compose.yml';
/** Toxiproxy's `-config` file that docker-compose.yml mounts, relative to the same directory. */
export const TOXIPROXY_CONFIG_FILE = 'toxiproxy.json';
const TOXIPROXY_API_PORT = 8474;
const DOCKER_PROBE_TIMEOUT_MS = 5_000;
const STARTUP_TIMEOUT_MS = 180_000;

/** Where testcontainers looks for an engine first, for messages. */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

export type DockerProbe = { ok: true; client: ContainerRuntimeClient } | { ok: false; where: string; reason: string };

/**
 * Whether a Docker engine answers, within `timeoutMs`. Never throws: the
 * provider turns a miss into BW_TOOL_MISSING, tests into a skip.
 */
export async function probeDocker(timeoutMs = DOCKER_PROBE_TIMEOUT_MS): Promise<DockerProbe> {
  const where = dockerEndpoint();
  let timer: NodeJS.Timeout | undefined;
  try {
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, client };
  } catch (err) {
    return { ok: false, where, reason: oneLine(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** The compose project of a run: every container, network and volume of the run carries it. */
export function composeProjectName(runId: string): string {
  const slug = runId.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+/, '').slice(0, 40);
  return `breakwater-${slug || 'run'}`;
}

/** Compose names the first container of a service `<service>-1`; testcontainers keys containers by that name. */
const containerName = (service: string) => `${service}-1`;

export interface ComposeSources {
  compose: ComposeFile;
  proxies: ToxiproxyProxyConfig[];
  topology: Topology;
  toxiproxyService: string;
}

/** Reads docker-compose.yml and toxiproxy.json from `dir`, validates them and derives the topology. */
export function readComposeSources(dir: string): ComposeSources {
  const composePath = join(dir, COMPOSE_FILE);
  const proxiesPath = join(dir, TOXIPROXY_CONFIG_FILE);
  for (const p of [composePath, proxiesPath]) {
    if (!existsSync(p)) throw new BreakwaterError('BW_CONFIG_NOT_FOUND', `the compose provider needs ${p}; restore it from the repository or use --provider local`);
  }
  try {
    const compose = parseComposeFile(readFileSync(composePath, 'utf8'), composePath);
    const proxies = parseToxiproxyConfig(readFileSync(proxiesPath, 'utf8'), proxiesPath);
    const toxiproxyService = toxiproxyServiceName(compose);
    if (!toxiproxyService) throw new TopologySourceError(`${composePath} has no service with the ghcr.io/shopify/toxiproxy image; every link must go through Toxiproxy`);
    return { compose, proxies, topology: composeTopology(compose, proxies), toxiproxyService };
  } catch (err) {
    if (err instanceof TopologySourceError) throw new BreakwaterError('BW_CONFIG_INVALID', `${err.message}; fix it or use --provider local`);
    throw err;
  }
}

/** Environment for `docker compose`: a generated value per `{{secret:NAME}}`, and the profile's passEnv. */
function composeVariables(def: StackDefinition, env: NodeJS.ProcessEnv): { environment: Record<string, string>; secrets: Record<string, string> } {
  const environment: Record<string, string> = {};
  const generated = new Map<string, string>();
  for (const svc of Object.values(def.services)) {
    if (svc.kind !== 'process') continue;
    const ps = svc as ProcessService;
    for (const k of ps.passEnv ?? []) if (env[k] !== undefined) environment[k] = env[k]!;
    for (const [k, v] of Object.entries(ps.env ?? {})) {
      // A variable whose value is a secret template gets the generated value under its own name: JWT_SECRET → ${JWT_SECRET}.
      const m = /^\{\{\s*secret:([A-Za-z0-9_.-]+)\s*\}\}$/.exec(v);
      if (!m) continue;
      let value = generated.get(m[1]!);
      if (!value) generated.set(m[1]!, (value = randomBytes(24).toString('base64url')));
      environment[k] = value;
    }
  }
  return { environment, secrets: Object.fromEntries(generated) };
}

/** The container port a proxy listens on (`0.0.0.0:13000` → 13000). */
const listenPort = (proxy: ToxiproxyProxyConfig) => Number(proxy.listen.slice(proxy.listen.lastIndexOf(':') + 1));

function abortIfAsked(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new BreakwaterError('BW_INTERRUPTED', `interrupted while ${what}`);
}

/**
 * Starts docker-compose.yml (next to the config file) through testcontainers:
 * Postgres, Redis, Toxiproxy and the app built from target/Dockerfile, with
 * every link going through a Toxiproxy proxy, as the local provider does. The
 * compose topology must equal the profile's; a mismatch is refused before
 * anything starts. A failed start removes what it had started and rethrows
 * one line.
 */
export async function startComposeStack(config: ResolvedConfig, opts: StartStackOptions): Promise<StartedStack> {
  const def = config.target.stack;
  const sources = readComposeSources(config.rootDir);
  const differences = diffTopology(stackTopology(def), sources.topology, { expected: 'the profile', actual: COMPOSE_FILE });
  if (differences.length > 0) {
    throw new BreakwaterError('BW_CONFIG_INVALID', `${COMPOSE_FILE} does not match the profile's stack (${differences.join('; ')}); keep the two in step`);
  }

  opts.onStep?.('looking for a Docker engine');
  const probe = await probeDocker();
  if (!probe.ok) {
    throw new BreakwaterError('BW_TOOL_MISSING', `the compose provider needs a running Docker engine (none reachable at ${probe.where}); use --provider local, or start Docker`);
  }
  const client = probe.client;
  abortIfAsked(opts.signal, 'looking for Docker');

  const project = composeProjectName(opts.runId);
  const { environment, secrets } = composeVariables(def, opts.env ?? process.env);
  const toxiName = sources.toxiproxyService;
  let composeEnv = new DockerComposeEnvironment(config.rootDir, COMPOSE_FILE)
    .withProjectName(project)
    .withBuild()
    .withEnvironment(environment)
    .withStartupTimeout(STARTUP_TIMEOUT_MS);
  for (const [name, svc] of Object.entries(sources.compose.services)) {
    composeEnv = composeEnv.withWaitStrategy(containerName(name), svc.healthcheck ? Wait.forHealthCheck() : Wait.forListeningPorts());
  }

  let started: StartedDockerComposeEnvironment | undefined;
  const downProject = async () => {
    // testcontainers downs the project itself when `up` or a wait fails; this covers failures after that.
    if (started) await started.down({ removeVolumes: true, timeout: 10 });
    else await client.compose.down({ filePath: config.rootDir, files: COMPOSE_FILE, projectName: project, environment }, { removeVolumes: true, timeout: 0 });
  };

  let toxiproxy: ToxiproxyControl;
  let info: StackInfo;
  try {
    opts.onStep?.(`building and starting ${Object.keys(sources.compose.services).join(', ')} (compose project ${project})`);
    started = await composeEnv.up();
    abortIfAsked(opts.signal, 'starting the compose stack');

    const toxiContainer = started.getContainer(containerName(toxiName));
    const host = toxiContainer.getHost();
    toxiproxy = new ToxiproxyControl(`http://${host}:${toxiContainer.getMappedPort(TOXIPROXY_API_PORT)}`);
    await toxiproxy.version();

    const links: Record<string, StartedLink> = {};
    for (const l of sources.topology.links) {
      const proxy = sources.proxies.find((p) => p.name === l.name)!;
      const listen = l.from === 'client' ? `${host}:${toxiContainer.getMappedPort(listenPort(proxy))}` : `${toxiName}:${listenPort(proxy)}`;
      links[l.name] = { name: l.name, from: l.from, to: l.to, listen, upstream: proxy.upstream, proxy: l.name };
    }
    const services: StackInfo['services'] = {};
    for (const name of sources.topology.services) services[name] = { kind: def.services[name]?.kind ?? 'container' };
    services[toxiName] = { kind: 'toxiproxy', port: toxiContainer.getMappedPort(TOXIPROXY_API_PORT) };
    info = {
      provider: 'compose',
      runId: opts.runId,
      baseUrl: `http://${links[def.entry]!.listen}`,
      toxiproxyUrl: toxiproxy.url,
      links,
      services,
    };
  } catch (err) {
    await downProject().catch(() => undefined);
    if (err instanceof BreakwaterError) throw err;
    throw new BreakwaterError(
      'BW_STACK_START_FAILED',
      `compose stack ${project} failed to start: ${oneLine(err)}; run with DEBUG=testcontainers* to see the compose output and container logs`,
      { cause: err },
    );
  }

  const env = started;
  const incidents: ExitRecord[] = [];
  const paused = new Set<string>();
  /** Services that the harness itself is stopping: their exits are not incidents. */
  const expectedExit = new Set<string>();
  const eventStreams: Readable[] = [];

  const container = (name: string): StartedTestContainer => {
    if (!(name in info.services)) throw new BreakwaterError('BW_USAGE', `no service "${name}" in this stack (services: ${Object.keys(info.services).join(', ')})`);
    return env.getContainer(containerName(name));
  };
  const dockerContainer = (name: string) => client.container.getById(container(name).getId());

  // Unexpected exits (a crash, an OOM kill, a `docker kill` from outside) become incidents, as with the local provider.
  for (const name of Object.keys(info.services)) {
    try {
      const stream = (await client.container.events(dockerContainer(name), ['die'])) as Readable;
      eventStreams.push(stream);
      stream.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          if (expectedExit.has(name)) continue;
          let code: number | null = null;
          try {
            code = Number((JSON.parse(line) as { Actor?: { Attributes?: { exitCode?: string } } }).Actor?.Attributes?.exitCode ?? NaN);
          } catch {
            /* a partial line: keep the record without a code */
          }
          incidents.push({ service: name, code: Number.isNaN(code) ? null : code, signal: null, at: new Date().toISOString(), unexpected: true });
        }
      });
      stream.on('error', () => undefined);
    } catch {
      /* events are best effort: the stack still works without incident records */
    }
  }

  const processes: ProcessControl = {
    async kill(name, signal = 'SIGKILL') {
      const dc = dockerContainer(name);
      expectedExit.add(name);
      // Docker refuses to kill a paused container.
      if (paused.delete(name)) await dc.unpause();
      await dc.kill({ signal });
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await dc.inspect()).State.Running) await new Promise((r) => setTimeout(r, 100));
    },
    async restart(name) {
      const c = container(name);
      expectedExit.add(name);
      if (paused.delete(name)) await dockerContainer(name).unpause();
      // testcontainers' restart starts a stopped container too, then waits with the service's wait strategy (its healthcheck).
      await c.restart({ timeout: 10 });
      expectedExit.delete(name);
      if (name === toxiName) {
        // Toxiproxy comes back with the proxies of toxiproxy.json and no toxics; Docker may give it new host ports.
        const url = `http://${c.getHost()}:${c.getMappedPort(TOXIPROXY_API_PORT)}`;
        if (url !== toxiproxy.url) {
          toxiproxy = new ToxiproxyControl(url);
          info.toxiproxyUrl = url;
          info.services[name]!.port = c.getMappedPort(TOXIPROXY_API_PORT);
          for (const l of Object.values(info.links)) {
            if (l.from === 'client') l.listen = `${c.getHost()}:${c.getMappedPort(listenPort(sources.proxies.find((p) => p.name === l.name)!))}`;
          }
          info.baseUrl = `http://${info.links[def.entry]!.listen}`;
        }
      }
    },
    async pause(name) {
      await dockerContainer(name).pause();
      paused.add(name);
    },
    async resume(name) {
      await dockerContainer(name).unpause();
      paused.delete(name);
    },
    paused: () => [...paused],
  };

  const teardown = async (): Promise<string[]> => {
    const errors: string[] = [];
    for (const name of Object.keys(info.services)) expectedExit.add(name);
    for (const s of eventStreams) s.destroy();
    await toxiproxy.reset().catch((e) => errors.push(`toxiproxy reset: ${oneLine(e)}`));
    for (const name of [...paused]) {
      await dockerContainer(name)
        .unpause()
        .catch((e) => errors.push(`unpausing ${name}: ${oneLine(e)}`));
    }
    await env.down({ removeVolumes: true, timeout: 10 }).catch((e) => errors.push(`compose down ${project}: ${oneLine(e)}`));
    return errors;
  };

  let stopping: Promise<StoppedStack> | undefined;
  const stop = () => {
    stopping ??= teardown().then((teardownErrors) => ({ info, incidents: [...incidents], teardownErrors }));
    return stopping;
  };

  return {
    info,
    get toxiproxy() {
      return toxiproxy;
    },
    processes,
    secrets,
    incidents: () => [...incidents],
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
