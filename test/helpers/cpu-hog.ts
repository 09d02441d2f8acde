import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * A loaded CI runner, made here: one busy-looping process per core, each
 * bounded in time (it exits by itself after `maxMs`) and killed by `stop()`.
 * Dispose it on every path out (`await using hog = startCpuHog()`).
 */
export function startCpuHog(opts: { processes?: number; maxMs?: number } = {}): AsyncDisposable & { stop(): Promise<void>; readonly processes: number } {
  const n = opts.processes ?? availableParallelism();
  const maxMs = opts.maxMs ?? 30 * 60_000;
  const loop = `const end = Date.now() + ${maxMs}; let x = 0; while (Date.now() < end) { for (let i = 0; i < 1e6; i++) x += i; }`;
  const hogs: ChildProcess[] = Array.from({ length: n }, () => spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
  const stop = async () => {
    await Promise.all(
      hogs.map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.exitCode !== null || h.signalCode !== null) return resolve();
            h.once('exit', () => resolve());
            h.kill('SIGKILL');
          }),
      ),
    );
  };
  return { processes: n, stop, [Symbol.asyncDispose]: stop };
}
