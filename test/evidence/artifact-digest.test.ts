import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../harness/config/load-config.ts';
import { artifactDigest, artifactPaths } from '../../harness/evidence/artifact-digest.ts';
import config from '../../breakwater.config.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('target artifact digest', () => {
  const repo = mkdtempSync(join(tmpdir(), 'bw-artifact-'));
  execFileSync('git', ['init', '-q'], { cwd: repo });
  mkdirSync(join(repo, 'app/src'), { recursive: true });
  writeFileSync(join(repo, 'app/src/main.ts'), 'main');
  writeFileSync(join(repo, 'app/package.json'), '{}');
  writeFileSync(join(repo, 'app/untracked.txt'), 'not in git');
  writeFileSync(join(repo, 'other.ts'), 'other');
  execFileSync('git', ['add', 'app/src/main.ts', 'app/package.json', 'other.ts'], { cwd: repo });

  it('is sha256 over the sorted "<path> <sha256>" lines of the tracked files under the paths', () => {
    const d = artifactDigest(repo, ['app']);
    const expected = sha([`app/package.json ${sha('{}')}`, `app/src/main.ts ${sha('main')}`].join('\n'));
    expect(d).toEqual({ digest: expected, paths: ['app'], files: 2 });
    writeFileSync(join(repo, 'app/untracked.txt'), 'changed');
    writeFileSync(join(repo, 'other.ts'), 'changed');
    expect(artifactDigest(repo, ['app']).digest).toBe(expected);
    writeFileSync(join(repo, 'app/src/main.ts'), 'main!');
    expect(artifactDigest(repo, ['app']).digest).not.toBe(expected);
  });

  it('refuses paths that hold no tracked file', () => {
    expect(() => artifactDigest(repo, ['nothing-here'])).toThrow(/hold no git-tracked file/);
  });

  it('defaults to the entry service cwd; the project config names target/', () => {
    const resolved = resolveConfig(config, join(import.meta.dirname, '../../breakwater.config.ts'));
    expect(artifactPaths(resolved)).toEqual(['target']);
    expect(artifactPaths({ ...resolved, artifact: undefined })).toEqual(['.']);
    expect(() => resolveConfig({ ...config, artifact: ['../elsewhere'] }, 'x.ts')).toThrow(/config.artifact\[0\]: must be a path inside the root/);
  });
});
