import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * Real Postgres and Redis for the target's own integration tests, on free
 * loopback ports with throwaway data dirs. Postgres refuses to run as root, so
 * as root it runs as an unprivileged user (`breakwater` if present, else `nobody`).
 */
export interface Infra {
  databaseUrl: string;
  redisUrl: string;
  pgPort: number;
  redisPort: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export function pgBinDir(): string {
  for (const v of ['17', '16', '15', '14']) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error('Postgres server binaries not found under /usr/lib/postgresql; run scripts/install-tools.sh');
}

function unprivilegedOwner(): { uid: number; gid: number } | null {
  if (userInfo().uid !== 0) return null;
  for (const user of ['breakwater', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      const gid = Number(execFileSync('id', ['-g', user], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      return { uid, gid };
    } catch {}
  }
  return null;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms`);
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}

export async function startInfra(): Promise<Infra> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'bw-target-test-'));
  const owner = unprivilegedOwner();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const pgData = join(dir, 'pg');
  // Postgres runs as the unprivileged owner directly (spawn's uid/gid), not through runuser/su,
  // so that signals reach the postmaster itself and stopping it really stops it.
  const ids = owner ? { uid: owner.uid, gid: owner.gid } : {};
  execFileSync(join(bin, 'initdb'), ['-D', pgData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { stdio: 'ignore', ...ids });
  const pgPort = await freePort();
  const pg = spawn(join(bin, 'postgres'), [
    '-D', pgData, '-p', String(pgPort), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300',
  ], { stdio: 'ignore', ...ids });
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const { default: pgLib } = await import('pg');
  const adminUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
  await waitFor(async () => {
    const c = new pgLib.Client({ connectionString: adminUrl });
    try {
      await c.connect();
      await c.end();
      return true;
    } catch {
      return false;
    }
  }, 'postgres');
  const { Redis } = await import('ioredis');
  await waitFor(async () => {
    const r = new Redis(redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      await r.ping();
      return true;
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  }, 'redis');
  const c = new pgLib.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query('CREATE DATABASE chat');
  await c.end();
  return {
    databaseUrl: `postgres://postgres@127.0.0.1:${pgPort}/chat`,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    pgPort,
    redisPort,
    async stop() {
      await Promise.all([stopChild(pg, 'SIGINT'), stopChild(redis)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
