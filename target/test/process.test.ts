import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from './support/infra.ts';
import { within } from './support/probe.ts';
import { freshDatabase } from './support/target.ts';

// The target as its own process: `node --import tsx target/src/main.ts`, the way operators and the harness run it.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const children = new Set<ChildProcess>();
let baseEnv: Record<string, string>;

interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

function startMain(env: Record<string, string | undefined>): { child: ChildProcess; exited: Promise<Exited> } {
  const clean = Object.fromEntries(Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const child = spawn(process.execPath, ['--import', 'tsx', 'target/src/main.ts'], { cwd: ROOT, env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<Exited>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      // 'exit' can fire before the pipes drain.
      setImmediate(() => resolve({ code, signal, stderr, stdout }));
    }),
  );
  return { child, exited };
}

function stderrLines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '');
}

beforeAll(async () => {
  baseEnv = {
    DATABASE_URL: await freshDatabase(),
    REDIS_URL: inject('targetInfra').redisUrl,
    JWT_SECRET: 'process-test-secret-long-enough',
    LOG_LEVEL: 'warn',
  };
});

afterAll(async () => {
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
});

describe('target process', () => {
  it('refuses an unknown flaw switch: exit 2 and one stderr line naming it', async () => {
    const { exited } = startMain({ ...baseEnv, PORT: String(await freePort()), TARGET_FLAWS: 'ssrf-no-guard,no-such-flaw' });
    const r = await exited;
    expect(r.code).toBe(2);
    const lines = stderrLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"no-such-flaw"');
  });

  it('refuses to start without DATABASE_URL: exit 2 and one stderr line naming it', async () => {
    const { exited } = startMain({ ...baseEnv, DATABASE_URL: undefined, PORT: String(await freePort()) });
    const r = await exited;
    expect(r.code).toBe(2);
    const lines = stderrLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('DATABASE_URL');
  });

  it('shuts down gracefully on SIGTERM: exit 0 within 5 s', async () => {
    const port = await freePort();
    const { child, exited } = startMain({ ...baseEnv, PORT: String(port) });
    const readyAfter = await within(20_000, async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
      } catch {
        return false;
      }
    });
    expect(readyAfter, 'target did not become ready within 20 s').not.toBeNull();
    const started = Date.now();
    child.kill('SIGTERM');
    const r = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000))]);
    expect(r).not.toBe('timeout');
    expect((r as Exited).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
