import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './infra.ts';

/** A Redis server that one test file owns, so it can kill and restart it without disturbing other files. */
export interface OwnRedis {
  url: string;
  port: number;
  /** SIGKILLs the server and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and waits until it answers PING. */
  restart(): Promise<void>;
  /** Stops it for good. Idempotent. */
  stop(): Promise<void>;
}

async function answersPing(port: number): Promise<boolean> {
  const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (Date.now() > deadline) {
        await kill();
        throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: start, stop: kill };
}
