import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import referenceChat from '../../profiles/reference-chat.ts';
import type { ResolvedConfig } from '../../harness/config/load-config.ts';
import type { StackDefinition } from '../../harness/config/target.ts';
import {
  COMPOSE_FILE,
  TOXIPROXY_CONFIG_FILE,
  composeProjectName,
  probeDocker,
  readComposeSources,
  startComposeStack,
} from '../../harness/stack/compose-provider.ts';
import { composeFileSchema, composeTopology, diffTopology, parseComposeFile, parseToxiproxyConfig, stackTopology } from '../../harness/stack/topology.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import { eventually, statusOf } from '../helpers/timing.ts';

const ROOT = join(import.meta.dirname, '../..');
const composeText = readFileSync(join(ROOT, COMPOSE_FILE), 'utf8');
const proxiesText = readFileSync(join(ROOT, TOXIPROXY_CONFIG_FILE), 'utf8');

// Bounded (5 s) so that a machine without Docker skips the container tests quickly.
const docker = await probeDocker(5_000);
const dockerAvailable = docker.ok;
const skipReason = docker.ok ? '' : `no Docker engine reachable at ${docker.where} (${docker.reason}): compose container tests skipped`;
if (!docker.ok) console.warn(skipReason);

// `docker compose config` validates without an engine, but only where the compose plugin is installed.
const composeCli = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 5_000 }).status === 0;

const config = (stack: StackDefinition = referenceChat.stack): ResolvedConfig =>
  ({ configPath: join(ROOT, 'breakwater.config.ts'), rootDir: ROOT, target: { ...referenceChat, stack }, provider: 'compose', allowlist: ['127.0.0.1', 'localhost', '::1'], out: join(ROOT, 'reports'), tiers: {} }) as unknown as ResolvedConfig;

/** The tag of an image reference, if any (a registry port is not a tag). */
function imageTag(image: string): string | undefined {
  const name = image.split('@')[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
}

describe('docker-compose.yml, statically (always runs)', () => {
  test('is YAML with the expected services and pinned image tags', () => {
    const raw = parseYaml(composeText) as { services: Record<string, { image?: string; build?: unknown }> };

    expect(Object.keys(raw.services).sort()).toEqual(['app', 'postgres', 'redis', 'toxiproxy']);
    expect(raw.services.toxiproxy!.image).toBe('ghcr.io/shopify/toxiproxy:2.12.0');
    expect(raw.services.postgres!.image).toBe('postgres:15-alpine');
    expect(raw.services.redis!.image).toBe('redis:7-alpine');
    expect(raw.services.app!.build).toEqual({ context: '.', dockerfile: 'target/Dockerfile' });
    for (const [name, svc] of Object.entries(raw.services)) {
      if (!svc.image) continue;
      const tag = imageTag(svc.image);
      expect(tag, `${name}: ${svc.image} has no tag`).toBeDefined();
      expect(tag, `${name}: ${svc.image} is not pinned`).not.toBe('latest');
    }
  });

  // Validation without an engine: `docker compose config -q` where the compose
  // plugin exists (next test); always, a strict zod schema of the subset of the
  // Compose Specification the file uses (harness/stack/topology.ts).
  test('is valid against the compose schema subset, and the schema is strict', () => {
    expect(() => parseComposeFile(composeText)).not.toThrow();
    expect(() => parseToxiproxyConfig(proxiesText)).not.toThrow();

    const compose = parseYaml(composeText);
    const typo = structuredClone(compose);
    typo.services.postgres.healtcheck = typo.services.postgres.healthcheck;
    delete typo.services.postgres.healthcheck;
    expect(() => parseComposeFile(JSON.stringify(typo))).toThrow(/services\.postgres/);
    const noHealth = structuredClone(compose);
    delete noHealth.services.redis.healthcheck;
    expect(composeFileSchema.safeParse(noHealth).error?.issues[0]?.message).toMatch(/"redis" has no healthcheck/);
    const badDollar = structuredClone(compose);
    badDollar.services.app.environment.JWT_SECRET = 'pa$ word';
    expect(composeFileSchema.safeParse(badDollar).success).toBe(false);
  });

  test.skipIf(!composeCli)(`passes \`docker compose config -q\`${composeCli ? '' : ' (skipped: no docker compose plugin)'}`, () => {
    const r = spawnSync('docker', ['compose', '-f', COMPOSE_FILE, 'config', '-q'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('mounts and builds only files that exist, and the app reaches its data through toxiproxy', () => {
    const compose = parseComposeFile(composeText);
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const v of svc.volumes ?? []) expect(existsSync(join(ROOT, v.split(':')[0]!)), `${name} mounts ${v}`).toBe(true);
      if (typeof svc.build === 'object') expect(existsSync(join(ROOT, svc.build.context, svc.build.dockerfile ?? 'Dockerfile'))).toBe(true);
    }
    const env = compose.services.app!.environment as Record<string, string>;
    expect(env.DATABASE_URL).toBe('postgres://postgres@toxiproxy:15432/chat');
    expect(env.REDIS_URL).toBe('redis://toxiproxy:16379');
    expect(env.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:-.{16,}\}$/);
    expect(env.TARGET_FLAWS).toBe('${TARGET_FLAWS:-}');
    expect([compose.services.app!.healthcheck?.test].flat().join(' ')).toContain('/readyz');
  });

  test('target/Dockerfile runs the target as a non-root user, and .dockerignore lets in what it copies', () => {
    const dockerfile = readFileSync(join(ROOT, 'target/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-slim\b/m);
    expect(dockerfile).toMatch(/npm ci --workspace=target/);
    expect(dockerfile).toMatch(/^USER (?!root\b|0\b)\S+/m);
    expect(dockerfile).toMatch(/^EXPOSE 3000$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "--import", "tsx", "target\/src\/main\.ts"\]$/m);

    const allowed = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(copied.length).toBeGreaterThan(0);
    for (const src of copied) {
      expect(allowed.some((a) => src === a || src.startsWith(`${a}/`)), `${src} is excluded by .dockerignore`).toBe(true);
      expect(existsSync(join(ROOT, src)), `${src} does not exist`).toBe(true);
    }
  });
});

describe('compose topology equals the local provider topology', () => {
  const profile = stackTopology(referenceChat.stack);
  const compose = () => composeTopology(parseComposeFile(composeText), parseToxiproxyConfig(proxiesText));

  test('same services, same links, same entry', () => {
    expect(compose()).toEqual(profile);
    expect(profile.links.map((l) => `${l.name}: ${l.from}→${l.to}`)).toEqual(['app-postgres: app→postgres', 'app-redis: app→redis', 'client-app: client→app']);
  });

  test('a link added to one side only is caught', () => {
    // In the profile only.
    const stack = structuredClone({ ...referenceChat.stack, services: { ...referenceChat.stack.services } });
    stack.links.push({ name: 'app-cache', from: 'app', to: 'redis' });
    expect(diffTopology(stackTopology(stack), compose(), { expected: 'profile', actual: 'compose' })).toEqual(['link "app-cache: app→redis" only in profile']);

    // In compose only: a new proxy that the app uses.
    const file = parseComposeFile(composeText);
    (file.services.app!.environment as Record<string, string>).CACHE_URL = 'redis://toxiproxy:16380';
    const proxies = [...parseToxiproxyConfig(proxiesText), { name: 'app-cache', listen: '0.0.0.0:16380', upstream: 'redis:6379' }];
    expect(diffTopology(profile, composeTopology(file, proxies), { expected: 'profile', actual: 'compose' })).toEqual(['link "app-cache: app→redis" only in compose']);
  });

  test('a compose service that bypasses toxiproxy is caught', () => {
    const file = parseComposeFile(composeText);
    (file.services.app!.environment as Record<string, string>).REDIS_URL = 'redis://redis:6379';
    const diff = diffTopology(profile, composeTopology(file, parseToxiproxyConfig(proxiesText)), { expected: 'profile', actual: 'compose' });
    expect(diff).toContain('link "app-redis: app→redis" only in profile');
    expect(diff).toContain('link "app-redis: app→redis (direct, bypasses toxiproxy)" only in compose');
  });

  test('the provider refuses a profile whose stack differs from docker-compose.yml, before looking for Docker', async () => {
    const stack = structuredClone({ ...referenceChat.stack, services: { ...referenceChat.stack.services } });
    stack.links.push({ name: 'app-cache', from: 'app', to: 'redis' });
    await expect(startComposeStack(config(stack), { runId: 'tmismatch', outDir: ROOT })).rejects.toMatchObject({
      code: 'BW_CONFIG_INVALID',
      message: expect.stringMatching(/^docker-compose\.yml does not match the profile's stack \(link "app-cache: app→redis" only in the profile\)/),
    });
    expect(readComposeSources(ROOT).topology).toEqual(profile);
  });
});

describe.skipIf(dockerAvailable)('without a Docker engine', () => {
  test('the provider fails fast with BW_TOOL_MISSING and one line', async () => {
    const t = performance.now();
    const err = await startComposeStack(config(), { runId: 'tnodocker', outDir: ROOT }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'BW_TOOL_MISSING',
      message: expect.stringMatching(/^the compose provider needs a running Docker engine \(none reachable at \S+\); use --provider local, or start Docker$/),
    });
    expect(performance.now() - t).toBeLessThan(10_000);
  });
});

describe.skipIf(!dockerAvailable)(`compose stack in containers${skipReason ? ` (${skipReason})` : ''}`, () => {
  const runId = `tcompose${randomBytes(3).toString('hex')}`;
  let stack: StartedStack;

  beforeAll(async () => {
    // The first run builds the app image and pulls the others.
    stack = await startComposeStack(config(), { runId, outDir: ROOT });
  }, 600_000);
  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  test('reaches /readyz through the client-app proxy, with every link a toxiproxy proxy', async () => {
    expect(stack.info.provider).toBe('compose');
    expect(stack.info.baseUrl).toBe(`http://${stack.info.links['client-app']!.listen}`);
    expect(await statusOf(`${stack.info.baseUrl}/readyz`)).toBe(200);
    const proxies = (await (await fetch(`${stack.info.toxiproxyUrl}/proxies`)).json()) as Record<string, { upstream: string }>;
    expect(Object.keys(proxies).sort()).toEqual(Object.keys(stack.info.links).sort());
    for (const link of Object.values(stack.info.links)) expect(proxies[link.name]!.upstream).toBe(link.upstream);
    expect(stack.secrets).toHaveLength(1);
  });

  test('a latency toxic on client-app is seen by the client', async () => {
    const url = `${stack.info.baseUrl}/healthz`;
    const timed = async () => {
      const t = performance.now();
      await statusOf(url);
      return performance.now() - t;
    };
    const before = await timed();
    await stack.toxiproxy!.addToxic('client-app', 'lat', { type: 'latency', stream: 'downstream', attributes: { latency: 400, jitter: 0 } });
    const during = await timed();
    await stack.toxiproxy!.removeToxic('client-app', 'lat');
    expect(during - before).toBeGreaterThan(300);
    expect(await stack.toxiproxy!.leftovers()).toEqual({ toxics: [], disabled: [] });
  });

  test('pause, resume, kill and restart act on the containers', async () => {
    const ready = `${stack.info.baseUrl}/readyz`;
    await stack.processes!.pause('redis');
    expect(stack.processes!.paused()).toEqual(['redis']);
    expect(await eventually(async () => (await statusOf(ready, 4000)) === 503, 10_000)).toBe(true);
    await stack.processes!.resume('redis');
    expect(await eventually(async () => (await statusOf(ready)) === 200, 15_000)).toBe(true);

    await stack.processes!.kill('app');
    expect(await statusOf(ready)).not.toBe(200);
    await stack.processes!.restart('app');
    expect(await eventually(async () => (await statusOf(ready)) === 200, 15_000)).toBe(true);
    expect(stack.incidents()).toEqual([]);
  }, 120_000);

  test('stop() is idempotent and leaves no container of the project', async () => {
    const [a, b] = await Promise.all([stack.stop(), stack.stop()]);
    expect(a).toBe(b);
    expect(a.teardownErrors).toEqual([]);
    if (!docker.ok) return;
    const left = await docker.client.container.fetchByLabel('com.docker.compose.project', composeProjectName(runId), {
      status: ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'],
    });
    expect(left, `containers of ${composeProjectName(runId)} left behind`).toBeUndefined();
  }, 120_000);
});
