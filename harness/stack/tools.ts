import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { BreakwaterError } from '../errors.ts';

const run = promisify(execFile);

/** Pinned versions of the Go-built tools; `breakwater setup` installs exactly these. */
export const PINNED = {
  toxiproxy: { module: 'github.com/Shopify/toxiproxy/v2/cmd/server', version: 'v2.12.0', binary: 'toxiproxy-server', built: 'server' },
  // k6 v2 is not served by the Go module proxy; the v1 line is pinned instead.
  k6: { module: 'go.k6.io/k6', version: 'v1.8.1', binary: 'k6', built: 'k6' },
} as const;

export type ToolName = 'node' | 'postgres' | 'redis-server' | 'toxiproxy-server' | 'k6' | 'docker';

export interface ToolStatus {
  name: ToolName;
  found: boolean;
  path?: string;
  version?: string;
  /** How to get it when missing. */
  fix: string;
  /** Whether the local provider cannot run without it. */
  required: boolean;
}

/** Directories searched besides PATH: where `breakwater setup` puts Go-built tools. */
export function toolDirs(): string[] {
  const gopath = process.env.GOPATH ?? join(homedir(), 'go');
  return [join(process.cwd(), '.breakwater', 'bin'), join(gopath, 'bin'), '/usr/local/bin'];
}

export function which(binary: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...toolDirs()];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, binary);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The directory holding initdb/postgres/pg_ctl from Debian's packages (newest major first). */
export function postgresBinDir(): string | undefined {
  for (const v of ['18', '17', '16', '15', '14', '13']) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  const initdb = which('initdb');
  return initdb ? join(initdb, '..') : undefined;
}

async function version(path: string, args: string[], pattern: RegExp): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(path, args, { timeout: 5000 });
    return pattern.exec(stdout + stderr)?.[1];
  } catch {
    return undefined;
  }
}

/** Finds every tool the harness uses, with its version, without installing anything. */
export async function discoverTools(): Promise<ToolStatus[]> {
  const setup = 'run `npx breakwater setup`';
  const pgDir = postgresBinDir();
  const redis = which('redis-server');
  const toxi = which(PINNED.toxiproxy.binary);
  const k6 = which(PINNED.k6.binary);
  const docker = which('docker');
  return Promise.all([
    Promise.resolve<ToolStatus>({ name: 'node', found: true, path: process.execPath, version: process.versions.node, fix: 'install Node.js 20.12 or later', required: true }),
    (async (): Promise<ToolStatus> => ({
      name: 'postgres',
      found: !!pgDir,
      path: pgDir ? join(pgDir, 'postgres') : undefined,
      version: pgDir ? await version(join(pgDir, 'postgres'), ['--version'], /(\d+\.\d+)/) : undefined,
      fix: `${setup} (Debian package postgresql)`,
      required: true,
    }))(),
    (async (): Promise<ToolStatus> => ({
      name: 'redis-server',
      found: !!redis,
      path: redis,
      version: redis ? await version(redis, ['--version'], /v=(\S+)/) : undefined,
      fix: `${setup} (Debian package redis-server)`,
      required: true,
    }))(),
    (async (): Promise<ToolStatus> => ({
      name: 'toxiproxy-server',
      found: !!toxi,
      path: toxi,
      // toxiproxy built by `go install` reports "git"; the module version is in the binary's build info.
      version: toxi ? ((await version('go', ['version', '-m', toxi], /\bmod\s+\S+\s+v(\S+)/)) ?? (await version(toxi, ['-version'], /(\d+\.\d+\.\d+)/))) : undefined,
      fix: `${setup} (go install ${PINNED.toxiproxy.module}@${PINNED.toxiproxy.version})`,
      required: true,
    }))(),
    (async (): Promise<ToolStatus> => ({
      name: 'k6',
      found: !!k6,
      path: k6,
      version: k6 ? await version(k6, ['version'], /k6 v?(\S+)/) : undefined,
      fix: `${setup} (go install ${PINNED.k6.module}@${PINNED.k6.version})`,
      required: false,
    }))(),
    (async (): Promise<ToolStatus> => ({
      name: 'docker',
      found: !!docker,
      path: docker,
      version: docker ? await version(docker, ['--version'], /version (\S+?),/) : undefined,
      fix: 'install Docker to use the compose provider (optional)',
      required: false,
    }))(),
  ]);
}

/** Returns the path of a required tool, or throws BW_TOOL_MISSING with the fix. */
export function requireTool(name: 'redis-server' | 'toxiproxy-server' | 'k6'): string {
  const path = which(name);
  if (!path) throw new BreakwaterError('BW_TOOL_MISSING', `${name} not found on PATH or in ${toolDirs().join(', ')}; run \`npx breakwater setup\``);
  return path;
}

export function requirePostgres(): string {
  const dir = postgresBinDir();
  if (!dir) throw new BreakwaterError('BW_TOOL_MISSING', 'Postgres server binaries (initdb, postgres) not found; run `npx breakwater setup`');
  return dir;
}
