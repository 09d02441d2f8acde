import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { PostgresService, ProcessService, StackDefinition } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { ManagedProcess, type ExitRecord } from './managed-process.ts';
import { freePort } from './ports.ts';
import { recordOwnership, reapOrphanedStacks, STACK_DIR_PREFIX } from './reaper.ts';
import { expandTemplate } from './templates.ts';
import { requirePostgres, requireTool } from './tools.ts';
import { startToxiproxyServer, type ToxiproxyControl } from './toxiproxy.ts';
import type { InstanceOptions, ProcessControl, StackInfo, StartedInstance, StartedLink, StartedStack, StoppedStack } from './types.ts';

export interface LocalStackOptions {
  runId: string;
  /** Service logs go to `<outDir>/logs/<service>.log`. */
  outDir: string;
  /** Base directory for relative `cwd` in process services (the config file's directory). */
  rootDir: string;
  /** Environment the harness passes through (`passEnv`), default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Progress callback for long steps. */
  onStep?: (step: string) => void;
  /** Aborting stops waiting for health checks; the start then fails and cleans up. */
  signal?: AbortSignal;
}

interface Service {
  name: string;
  kind: string;
  port: number;
  proc: ManagedProcess;
  /** Waits until the service answers. */
  ready(): Promise<void>;
}

/** Postgres refuses to run as root: as root, services run as `breakwater` (made by setup) or `nobody`. */
function unprivilegedUser(): { uid: number; gid: number; name: string } | undefined {
  if (userInfo().uid !== 0) return undefined;
  for (const name of ['breakwater', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      const gid = Number(execFileSync('id', ['-g', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      return { uid, gid, name };
    } catch {
      /* try the next */
    }
  }
  throw new BreakwaterError('BW_TOOL_MISSING', 'running as root but no unprivileged user (breakwater or nobody) exists for Postgres; run `npx breakwater setup`');
}

async function poll(what: string, timeoutMs: number, proc: ManagedProcess, check: () => Promise<boolean>, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new BreakwaterError('BW_INTERRUPTED', `interrupted while starting ${what}`);
    if (!proc.running) {
      const last = proc.exits.at(-1);
      throw new BreakwaterError(
        'BW_STACK_START_FAILED',
        `${what} exited during start (code ${last?.code ?? '?'}${last?.signal ? `, ${last.signal}` : ''}): ${oneLine(proc.logTail(1)) || 'no output'}; see ${proc.spec.logFile}`,
      );
    }
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new BreakwaterError('BW_STACK_START_FAILED', `${what} was not ready within ${timeoutMs} ms: ${oneLine(proc.logTail(1)) || 'no output'}; see ${proc.spec.logFile}`);
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const sock = connect({ port, host: '127.0.0.1' });
    const done = (v: boolean) => {
      sock.destroy();
      resolvePing(v);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
    sock.once('error', () => done(false));
  });
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

const BASE_ENV_KEYS = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_OPTIONS'];

/**
 * Starts the stack as local child processes on 127.0.0.1: its own Postgres
 * (fresh data dir), Redis and Toxiproxy, then the app, with every link going
 * through a Toxiproxy proxy. A failed start removes what it had started and
 * rethrows the original error.
 */
export async function startLocalStack(def: StackDefinition, opts: LocalStackOptions): Promise<StartedStack> {
  reapOrphanedStacks();
  const toxiBin = requireTool('toxiproxy-server');
  const needsPg = Object.values(def.services).some((s) => s.kind === 'postgres');
  const pgBin = needsPg ? requirePostgres() : '';
  const needsRedis = Object.values(def.services).some((s) => s.kind === 'redis');
  const redisBin = needsRedis ? requireTool('redis-server') : '';
  const env = opts.env ?? process.env;

  const workDir = mkdtempSync(join(tmpdir(), `${STACK_DIR_PREFIX}${opts.runId}-`));
  const logDir = join(opts.outDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const owner = unprivilegedUser();
  if (owner) chownSync(workDir, owner.uid, owner.gid);

  const started: ManagedProcess[] = [];
  const services = new Map<string, Service>();
  const incidents: ExitRecord[] = [];
  const secrets = new Map<string, string>();
  let toxiproxy: ToxiproxyControl | undefined;
  const links: Record<string, StartedLink> = {};
  const paused = new Set<string>();

  const track = (p: ManagedProcess) => {
    started.push(p);
    p.onUnexpectedExit((e) => incidents.push(e));
    recordOwnership(workDir, started.map((s) => s.pid).filter((x): x is number => !!x));
  };

  const secret = (name: string) => {
    let v = secrets.get(name);
    if (!v) {
      v = randomBytes(24).toString('base64url');
      secrets.set(name, v);
    }
    return v;
  };

  /** A process service's environment on `port`: the base keys, passEnv, then its own (templated) env. */
  const processEnv = (name: string, ps: ProcessService, port: number): NodeJS.ProcessEnv => {
    const childEnv: NodeJS.ProcessEnv = {};
    for (const k of BASE_ENV_KEYS) if (env[k] !== undefined) childEnv[k] = env[k];
    for (const k of ps.passEnv ?? []) if (env[k] !== undefined) childEnv[k] = env[k];
    for (const [k, v] of Object.entries(ps.env ?? {})) {
      childEnv[k] = expandTemplate(v, { port, link: (l) => links[l]?.listen, secret }, `stack.services.${name}.env.${k}`);
    }
    return childEnv;
  };
  const processCwd = (ps: ProcessService) => (ps.cwd ? (isAbsolute(ps.cwd) ? ps.cwd : resolve(opts.rootDir, ps.cwd)) : opts.rootDir);
  /** Extra instances (canary candidates) started by processes.startInstance(), by name. */
  const instances = new Map<string, ManagedProcess>();
  let closing = false;

  const teardown = async (): Promise<string[]> => {
    const errors: string[] = [];
    if (toxiproxy) await toxiproxy.reset().catch((e) => errors.push(`toxiproxy reset: ${oneLine(e)}`));
    for (const p of [...started].reverse()) {
      await p.stop().catch((e) => errors.push(`${p.spec.name}: ${oneLine(e)}`));
    }
    try {
      rmSync(workDir, { recursive: true, force: true });
    } catch (e) {
      errors.push(`removing ${workDir}: ${oneLine(e)}`);
    }
    return errors;
  };

  try {
    opts.onStep?.('starting toxiproxy');
    const toxi = await startToxiproxyServer(toxiBin, join(logDir, 'toxiproxy.log'), opts.runId);
    track(toxi.process);
    toxiproxy = toxi.control;

    // Ports for every service, then a proxy for every link (proxies may exist before their upstream).
    const ports = new Map<string, number>();
    for (const name of Object.keys(def.services)) ports.set(name, await freePort());
    for (const l of def.links) {
      const listen = `127.0.0.1:${await freePort()}`;
      const upstream = `127.0.0.1:${ports.get(l.to)}`;
      await toxiproxy.createProxy(l.name, listen, upstream);
      links[l.name] = { name: l.name, from: l.from, to: l.to, listen, upstream, proxy: l.name };
    }

    const makeService = (name: string): Service => {
      const s = def.services[name]!;
      const port = ports.get(name)!;
      const logFile = join(logDir, `${name}.log`);
      if (s.kind === 'postgres') {
        const dataDir = join(workDir, `${name}-data`);
        const proc = new ManagedProcess({
          name,
          runId: opts.runId,
          command: join(pgBin, 'postgres'),
          args: ['-D', dataDir, '-p', String(port), '-k', workDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
          uid: owner?.uid,
          gid: owner?.gid,
          logFile,
          stopSignal: 'SIGINT',
        });
        return {
          name,
          kind: 'postgres',
          port,
          proc,
          ready: () =>
            poll(`postgres "${name}"`, 30_000, proc, async () => {
              const r = spawnSync(join(pgBin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q'], { timeout: 2000 });
              return r.status === 0;
            }, opts.signal),
        };
      }
      if (s.kind === 'redis') {
        const proc = new ManagedProcess({
          name,
          runId: opts.runId,
          command: redisBin,
          args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', workDir],
          logFile,
        });
        return { name, kind: 'redis', port, proc, ready: () => poll(`redis "${name}"`, 15_000, proc, () => redisPing(port), opts.signal) };
      }
      const ps = s as ProcessService;
      const childEnv = processEnv(name, ps, port);
      const [command, ...args] = ps.command;
      const cwd = processCwd(ps);
      const proc = new ManagedProcess({ name, runId: opts.runId, command: command!, args, cwd, env: childEnv, logFile });
      const timeout = ps.health.timeoutMs ?? 30_000;
      return { name, kind: 'process', port, proc, ready: () => poll(`service "${name}"`, timeout, proc, () => httpOk(`http://127.0.0.1:${port}${ps.health.path}`), opts.signal) };
    };

    const initPostgres = (name: string) => {
      const dataDir = join(workDir, `${name}-data`);
      const r = spawnSync(join(pgBin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
        uid: owner?.uid,
        gid: owner?.gid,
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (r.status !== 0) throw new BreakwaterError('BW_STACK_START_FAILED', `initdb for "${name}" failed: ${oneLine(r.stderr || r.error?.message || 'no output')}`);
    };

    // Data services first (in parallel), then the processes that depend on them, in declaration order.
    const names = Object.keys(def.services);
    const dataNames = names.filter((n) => def.services[n]!.kind !== 'process');
    opts.onStep?.(`starting ${dataNames.join(', ') || 'services'}`);
    await Promise.all(
      dataNames.map(async (name) => {
        const s = def.services[name]!;
        if (s.kind === 'postgres') initPostgres(name);
        const svc = makeService(name);
        services.set(name, svc);
        svc.proc.start();
        track(svc.proc);
        await svc.ready();
        if (s.kind === 'postgres') {
          const db = (s as PostgresService).database;
          const r = spawnSync(join(pgBin, 'createdb'), ['-h', '127.0.0.1', '-p', String(svc.port), '-U', 'postgres', db], { encoding: 'utf8', timeout: 15_000 });
          if (r.status !== 0) throw new BreakwaterError('BW_STACK_START_FAILED', `creating database "${db}" failed: ${oneLine(r.stderr || 'no output')}`);
        }
      }),
    );
    for (const name of names.filter((n) => def.services[n]!.kind === 'process')) {
      opts.onStep?.(`starting ${name}`);
      const svc = makeService(name);
      services.set(name, svc);
      svc.proc.start();
      track(svc.proc);
      await svc.ready();
    }
  } catch (err) {
    await teardown();
    throw err instanceof BreakwaterError ? err : new BreakwaterError('BW_STACK_START_FAILED', `local stack failed to start: ${oneLine(err)}`, { cause: err });
  }

  const info: StackInfo = {
    provider: 'local',
    runId: opts.runId,
    baseUrl: `http://${links[def.entry]!.listen}`,
    toxiproxyUrl: toxiproxy.url,
    links,
    services: Object.fromEntries([
      ...[...services.values()].map((s) => [s.name, { kind: s.kind, port: s.port, pid: s.proc.pid, logFile: s.proc.spec.logFile }] as const),
      ['toxiproxy', { kind: 'toxiproxy', port: Number(new URL(toxiproxy.url).port), pid: started[0]?.pid, logFile: join(logDir, 'toxiproxy.log') }] as const,
    ]),
    logDir,
    workDir,
  };

  const service = (name: string): Service => {
    const s = services.get(name);
    if (!s) throw new BreakwaterError('BW_USAGE', `no service "${name}" in this stack (services: ${[...services.keys()].join(', ')})`);
    return s;
  };

  const processes: ProcessControl = {
    async kill(name, signal = 'SIGKILL') {
      await service(name).proc.kill(signal);
    },
    async restart(name) {
      const s = service(name);
      if (s.proc.running) await s.proc.stop();
      paused.delete(name);
      s.proc.start();
      recordOwnership(workDir, started.map((p) => p.pid).filter((x): x is number => !!x));
      info.services[name]!.pid = s.proc.pid;
      await s.ready();
    },
    async pause(name) {
      service(name).proc.pause();
      paused.add(name);
    },
    async resume(name) {
      service(name).proc.resume();
      paused.delete(name);
    },
    paused: () => [...paused],
    startInstance: (name, instanceOpts) => startInstance(name, instanceOpts),
  };

  const ownPids = () => recordOwnership(workDir, started.map((p) => p.pid).filter((x): x is number => !!x));

  async function startInstance(name: string, o: InstanceOptions): Promise<StartedInstance> {
    const s = def.services[name];
    if (!s || s.kind !== 'process') {
      throw new BreakwaterError('BW_USAGE', `cannot start an instance of "${name}": only process services have instances (process services: ${Object.keys(def.services).filter((n) => def.services[n]!.kind === 'process').join(', ') || 'none'})`);
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(o.name) || def.services[o.name] || instances.has(o.name) || o.name === 'toxiproxy') {
      throw new BreakwaterError('BW_USAGE', `instance name "${o.name}" is taken or invalid; use letters, digits, dots, dashes, unused by services (${Object.keys(def.services).join(', ')}) and instances (${[...instances.keys()].join(', ') || 'none'})`);
    }
    if (closing) throw new BreakwaterError('BW_STACK_FAULT', `cannot start instance "${o.name}": the stack is stopping`);
    const ps = s as ProcessService;
    const port = await freePort();
    const [command, ...args] = ps.command;
    const childEnv = { ...processEnv(name, ps, port), ...(o.env ?? {}) };
    const proc = new ManagedProcess({ name: o.name, runId: opts.runId, command: command!, args, cwd: processCwd(ps), env: childEnv, logFile: join(logDir, `${o.name}.log`) });
    instances.set(o.name, proc);
    // In the teardown's list (it stops in reverse start order, so before what it depends on), but its crashes are not the stack's incidents.
    started.push(proc);
    let stopped: Promise<void> | undefined;
    const stopInstance = () => {
      stopped ??= proc.stop().finally(() => {
        const i = started.indexOf(proc);
        if (i >= 0) started.splice(i, 1);
        instances.delete(o.name);
        if (!closing) ownPids();
      });
      return stopped;
    };
    try {
      proc.start();
      ownPids();
      await poll(`instance "${o.name}" of "${name}"`, ps.health.timeoutMs ?? 30_000, proc, () => httpOk(`http://127.0.0.1:${port}${ps.health.path}`), o.signal);
      if (closing) throw new BreakwaterError('BW_STACK_FAULT', `instance "${o.name}" started while the stack was stopping; it was stopped`);
    } catch (err) {
      await stopInstance().catch(() => {});
      throw err;
    }
    return {
      name: o.name,
      service: name,
      url: `http://127.0.0.1:${port}`,
      port,
      pid: proc.pid,
      running: () => proc.running,
      exits: () => [...proc.exits],
      stop: stopInstance,
      async [Symbol.asyncDispose]() {
        await stopInstance();
      },
    };
  }

  let stopping: Promise<StoppedStack> | undefined;
  const stop = () => {
    closing = true;
    stopping ??= teardown().then((teardownErrors) => ({ info, incidents: [...incidents], teardownErrors }));
    return stopping;
  };

  return {
    info,
    toxiproxy,
    processes,
    secrets: Object.fromEntries(secrets),
    incidents: () => [...incidents],
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
