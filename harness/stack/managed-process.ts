import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';

/**
 * The pids of a process and all its descendants, from /proc. Process groups
 * are not enough: Postgres backends call setsid(), so a group signal misses them.
 */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [root];
  }
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // Field 4 is the ppid; the command (field 2) may contain spaces, so parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Every process a stack starts carries this variable, set to the run id, so leftovers can be found. */
export const STACK_ENV_MARKER = 'BREAKWATER_STACK';

/** Pids of live processes whose environment carries the marker for this run id (readable for own and, as root, all processes). */
export function processesOfStack(runId: string): number[] {
  const needle = Buffer.from(`${STACK_ENV_MARKER}=${runId}\0`);
  const out: number[] = [];
  for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const env = readFileSync(`/proc/${e}/environ`);
      if (env.includes(needle)) {
        const state = readFileSync(`/proc/${e}/stat`, 'utf8');
        if (state.slice(state.lastIndexOf(')') + 2)[0] !== 'Z') out.push(Number(e));
      }
    } catch {
      /* gone or not readable */
    }
  }
  return out;
}

export interface ProcessSpec {
  /** Service name, for messages. */
  name: string;
  /** Run id of the stack that owns the process; exported as BREAKWATER_STACK. */
  runId?: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this user (the harness is root and the service must not be). */
  uid?: number;
  gid?: number;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** Signal for a graceful stop (postgres wants SIGINT for a fast shutdown). */
  stopSignal?: NodeJS.Signals;
}

export interface ExitRecord {
  service: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: string;
  /** True when nobody asked for it: a crash, an OOM, a kill from outside. */
  unexpected: boolean;
}

/**
 * A child process in its own process group, so that kill, pause and resume
 * reach every process it forks (postgres backends), and so that a Ctrl-C in
 * the terminal reaches only the harness, which then tears down in order.
 */
export class ManagedProcess {
  #child: ChildProcess | undefined;
  #expectExit = false;
  #exited: Promise<ExitRecord> | undefined;
  readonly exits: ExitRecord[] = [];
  #onUnexpected: ((e: ExitRecord) => void) | undefined;

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return !!this.#child && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  onUnexpectedExit(fn: (e: ExitRecord) => void): void {
    this.#onUnexpected = fn;
  }

  start(): void {
    if (this.running) return;
    const fd = openSync(this.spec.logFile, 'a');
    try {
      this.#expectExit = false;
      const child = spawn(this.spec.command, this.spec.args, {
        cwd: this.spec.cwd,
        env: this.spec.runId ? { ...(this.spec.env ?? process.env), [STACK_ENV_MARKER]: this.spec.runId } : this.spec.env,
        uid: this.spec.uid,
        gid: this.spec.gid,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      this.#child = child;
      this.#exited = new Promise((resolve) => {
        const finish = (code: number | null, signal: NodeJS.Signals | null) => {
          const rec: ExitRecord = { service: this.spec.name, code, signal, at: new Date().toISOString(), unexpected: !this.#expectExit };
          this.exits.push(rec);
          if (rec.unexpected) this.#onUnexpected?.(rec);
          resolve(rec);
        };
        child.once('exit', finish);
        child.once('error', (err) => {
          this.exits.push({ service: this.spec.name, code: -1, signal: null, at: new Date().toISOString(), unexpected: true });
          resolve({ service: this.spec.name, code: -1, signal: null, at: new Date().toISOString(), unexpected: true });
          void err;
        });
      });
    } finally {
      closeSync(fd);
    }
  }

  /** Resolves when the current incarnation exits. */
  exited(): Promise<ExitRecord> | undefined {
    return this.#exited;
  }

  /** Sends a signal to the process, its group, and every descendant. */
  signal(sig: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (!pid || !this.running) return;
    for (const target of [-pid, ...processTree(pid)]) {
      try {
        process.kill(target, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** Sends a signal to the leader only (a graceful stop lets the service stop its own children). */
  signalLeader(sig: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (!pid || !this.running) return;
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }

  /** Kills the process group at once (a crash, as far as the service can tell). */
  async kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.#expectExit = true;
    this.signal('SIGCONT');
    this.signal(sig);
    await this.#exited;
  }

  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  /** Graceful stop with a deadline, then SIGKILL. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) {
      await this.#exited;
      return;
    }
    this.#expectExit = true;
    const pid = this.#child?.pid;
    const tree = pid ? processTree(pid) : [];
    this.signal('SIGCONT');
    this.signalLeader(this.spec.stopSignal ?? 'SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
    // Descendants that outlived the leader (rare) go too.
    for (const target of [...(pid ? [-pid] : []), ...tree.slice(1)]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** The last lines of the service's log, for error messages. */
  logTail(lines = 5): string {
    try {
      const size = statSync(this.spec.logFile).size;
      const text = readFileSync(this.spec.logFile, 'utf8').slice(Math.max(0, size - 8192));
      return text.trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}
