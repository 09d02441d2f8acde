import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/**
 * The sealed network: a Linux network namespace whose only interface is
 * loopback. A process in it (the harness, and through inheritance every
 * process it starts: Postgres, Redis, Toxiproxy, the app, k6, the suite host)
 * has no route off this machine, so a broken SSRF guard cannot make the target
 * send a packet to a private, metadata or public address: the connect fails
 * with ENETUNREACH before anything is sent.
 *
 * The mode is observed, never assumed: a run is `sealed` only when the
 * harness's own namespace has loopback and nothing else.
 */
export type NetworkMode = 'sealed' | 'host';

export interface ObservedNetwork {
  mode: NetworkMode;
  /** Every interface of the current namespace, up or down. */
  interfaces: string[];
  /** Whether loopback is up (a fresh namespace starts with it down). */
  loopbackUp: boolean;
}

/**
 * The interfaces of the calling process's network namespace. `/proc/net/dev`
 * follows the namespace of the reader (`/sys/class/net` follows whoever
 * mounted sysfs, so it would show the host's from inside `unshare --net`).
 */
export function observeNetwork(procNetDev = '/proc/net/dev'): ObservedNetwork {
  let interfaces: string[];
  try {
    interfaces = readFileSync(procNetDev, 'utf8')
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter(Boolean);
  } catch {
    // Not Linux (or no procfs): nothing here can prove the network is sealed.
    return { mode: 'host', interfaces: Object.keys(networkInterfaces()), loopbackUp: true };
  }
  // libuv lists only interfaces that are up and running.
  const loopbackUp = 'lo' in networkInterfaces();
  const sealed = interfaces.length === 1 && interfaces[0] === 'lo';
  return { mode: sealed ? 'sealed' : 'host', interfaces, loopbackUp };
}

/** How to start a command inside a fresh sealed namespace, or why that is impossible here. */
export type SealLauncher = { ok: true; prefix: string[]; how: string } | { ok: false; reason: string };

/** Brings loopback up in the new namespace, then becomes the command (same pid: signals and exit codes pass straight through). */
const LO_UP_THEN_EXEC = 'ip link set lo up && exec "$@"';

/**
 * The command prefix that runs `argv` in a new network namespace with only
 * loopback (up), tried once with `true` so that a failure is known before
 * anything real starts. As root: `unshare --net`. Otherwise an unprivileged
 * user namespace maps the user to root just long enough to bring loopback up,
 * and a nested one maps it back, so the command runs as the same user with no
 * added privilege.
 */
export function sealLauncher(opts: { unshare?: string; uid?: number } = {}): SealLauncher {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  const unshare = opts.unshare ?? 'unshare';
  const uid = opts.uid ?? process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const prefix =
    uid === 0
      ? [unshare, '--net', '--', 'sh', '-c', LO_UP_THEN_EXEC, 'breakwater-sealed']
      : [
          unshare, '--map-root-user', '--net', '--', 'sh', '-c',
          `ip link set lo up && exec unshare --map-user=${uid} --map-group=${gid} -- "$@"`, 'breakwater-sealed',
        ];
  const probe = spawnSync(prefix[0]!, [...prefix.slice(1), 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  if (probe.error) {
    const code = (probe.error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? 'unshare is not installed (Debian package util-linux)' : `unshare failed: ${code ?? probe.error.message}` };
  }
  if (probe.status !== 0) {
    const why = probe.stderr.toString().trim().split('\n').at(-1) || `exit ${probe.status ?? probe.signal}`;
    const hint = /ip: not found|ip: command not found/.test(why) ? ' (install iproute2)' : uid === 0 ? '' : ' (run as root, or allow unprivileged user namespaces)';
    return { ok: false, reason: `a network namespace could not be made: ${why}${hint}` };
  }
  return { ok: true, prefix, how: uid === 0 ? 'unshare --net' : 'unshare --user --net (unprivileged)' };
}

/** Set in the sealed child: the pid of the process waiting for it in the host namespace. */
export const SEALED_PARENT_ENV = 'BREAKWATER_SEALED_PARENT';

/**
 * Runs `argv` (a command and its arguments) in a sealed namespace and
 * resolves with its exit code (128 + n when a signal ended it). The child
 * gets its own process group, so a terminal's Ctrl-C reaches it exactly once:
 * through this process, which forwards SIGINT, SIGTERM and SIGHUP. With
 * `tellParent` (a breakwater child), the child learns this process's pid from
 * `BREAKWATER_SEALED_PARENT` and stops itself when it is gone (see
 * watchSealedParent), so a killed harness leaves nothing running.
 */
export function runSealed(launcher: Extract<SealLauncher, { ok: true }>, argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; tellParent?: boolean } = {}): Promise<number> {
  const env = { ...(opts.env ?? process.env) };
  if (opts.tellParent) env[SEALED_PARENT_ENV] = String(process.pid);
  else delete env[SEALED_PARENT_ENV];
  // No stdin: in a process group of its own on a terminal, a read would stop it (SIGTTIN).
  const child = spawn(launcher.prefix[0]!, [...launcher.prefix.slice(1), ...argv], { stdio: ['ignore', 'inherit', 'inherit'], detached: true, cwd: opts.cwd, env });
  const forward = (sig: NodeJS.Signals) => {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, forward);
  return new Promise((resolve) => {
    const done = (code: number) => {
      for (const s of signals) process.off(s, forward);
      resolve(code);
    };
    child.once('error', (err) => {
      process.stderr.write(`breakwater: could not start the sealed run: ${err.message}\n`);
      done(3);
    });
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? signalNumber(signal) : 0)));
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig] ?? 1;
}

/**
 * In a sealed child: polls the parent's pid and sends this process SIGTERM
 * once it is gone (re-parented), so the run stops its stack as on any
 * interrupt. Returns a function that stops watching; does nothing outside a sealed child.
 */
export function watchSealedParent(env: NodeJS.ProcessEnv = process.env, everyMs = 500): () => void {
  const parent = Number(env[SEALED_PARENT_ENV]);
  // Read once and removed, so that the processes this one starts do not inherit it.
  delete env[SEALED_PARENT_ENV];
  if (!Number.isInteger(parent) || parent <= 0 || process.ppid !== parent) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.stderr.write('breakwater: the harness process that started this sealed run is gone; stopping\n');
    process.kill(process.pid, 'SIGTERM');
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
