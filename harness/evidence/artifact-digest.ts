import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load-config.ts';
import { BreakwaterError, oneLine } from '../errors.ts';

export interface ArtifactDigest {
  /** Hex sha256 over the sorted `<path> <sha256 of content>` lines. */
  digest: string;
  paths: string[];
  files: number;
}

/** The artifact paths of a config: `config.artifact`, else the entry service's `cwd`, else the root. */
export function artifactPaths(config: Pick<ResolvedConfig, 'target'> & { artifact?: string[] }): string[] {
  if (config.artifact?.length) return config.artifact;
  const stack = config.target.stack;
  const entry = stack.links.find((l) => l.name === stack.entry);
  const service = entry && stack.services[entry.to];
  return [service?.kind === 'process' && service.cwd ? service.cwd : '.'];
}

function git(args: string[], cwd: string): Buffer {
  try {
    return execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, maxBuffer: 256 * 1024 * 1024 });
  } catch (err) {
    throw new BreakwaterError('BW_EVIDENCE_WRITE_FAILED', `git ${args[0]} failed in ${cwd} (${oneLine(err)}); evidence names the commit and the tracked files under test, so run inside a git checkout`);
  }
}

/**
 * Digest of the code under test: sha256 over the sorted lines
 * `<path relative to root> <sha256 of its content>` of every git-tracked file
 * under `paths`. Contents come from the working tree, so uncommitted edits change it.
 * Symlinks hash their target path, submodules their recorded commit.
 */
export function artifactDigest(rootDir: string, paths: string[]): ArtifactDigest {
  const listing = git(['ls-files', '-s', '-z', '--', ...paths], rootDir).toString('utf8');
  const lines: string[] = [];
  for (const entry of listing.split('\0')) {
    if (!entry) continue;
    // "<mode> <object> <stage>\t<path>"
    const tab = entry.indexOf('\t');
    const [mode, object] = entry.slice(0, tab).split(' ');
    const path = entry.slice(tab + 1);
    const abs = join(rootDir, path);
    let content: Buffer | string;
    if (mode === '160000') content = `submodule ${object}`;
    else if (mode === '120000') {
      const target = readlinkSafe(abs);
      if (target === undefined) continue;
      content = `symlink ${target}`;
    } else if (!existsSync(abs)) continue; // deleted in the working tree: not part of the artifact
    else content = readFileSync(abs);
    lines.push(`${path} ${createHash('sha256').update(content).digest('hex')}`);
  }
  const unique = [...new Set(lines)].sort();
  if (unique.length === 0) {
    throw new BreakwaterError('BW_EVIDENCE_WRITE_FAILED', `the artifact paths [${paths.join(', ')}] hold no git-tracked file under ${rootDir}; set \`artifact\` in the config to the paths of the code under test`);
  }
  return { digest: createHash('sha256').update(unique.join('\n')).digest('hex'), paths, files: unique.length };
}

function readlinkSafe(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** True when tracked files differ from the commit (the digest then describes uncommitted code). */
export function workingTreeDirty(rootDir: string): boolean {
  return git(['status', '--porcelain', '--untracked-files=no'], rootDir).toString().trim() !== '';
}

/** The commit under test (HEAD), or undefined outside a git checkout. */
export function headCommit(rootDir: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: rootDir, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}
