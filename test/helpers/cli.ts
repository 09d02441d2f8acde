import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/breakwater.mjs');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `breakwater <args>` as a real child process; `wrap` is a command prefix that ends by exec'ing it (e.g. `ip netns exec NS`). */
export function spawnCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; wrap?: string[] } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const argv = [...(opts.wrap ?? []), process.execPath, BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Runs `breakwater <args>` to completion, killing it after `timeoutMs`. */
export async function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const { child, done } = spawnCli(args, opts);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

/** The lines a command wrote to stderr that are not progress lines. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() && !/^\s*\d+\.\ds ›/.test(l));
}

/** A stack trace looks like "    at fn (file:line)". */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(].*\d+/m.test(text);
}
