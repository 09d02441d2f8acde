import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { developmentKey, generateKeyPair, loadPrivateKey, resolveSigningKey } from '../../harness/evidence/keys.ts';
import { tempKeyPair } from '../helpers/evidence.ts';

describe('signing key resolution', () => {
  const root = mkdtempSync(join(tmpdir(), 'bw-root-'));

  it('prefers --key, then BREAKWATER_SIGNING_KEY_FILE, then BREAKWATER_SIGNING_KEY, then the development key', () => {
    const a = tempKeyPair();
    const b = tempKeyPair();
    const c = generateKeyPair();
    const env = { BREAKWATER_SIGNING_KEY_FILE: b.private, BREAKWATER_SIGNING_KEY: c.privatePem };
    expect(resolveSigningKey({ keyFile: a.private, env, rootDir: root })).toMatchObject({ keyid: a.key.keyid, trust: 'configured' });
    expect(resolveSigningKey({ env, rootDir: root })).toMatchObject({ keyid: b.key.keyid, trust: 'configured' });
    expect(resolveSigningKey({ env: { BREAKWATER_SIGNING_KEY: c.privatePem }, rootDir: root })).toMatchObject({ keyid: c.keyid, trust: 'configured', source: 'BREAKWATER_SIGNING_KEY' });
    const dev = resolveSigningKey({ env: {}, rootDir: root });
    expect(dev.trust).toBe('development');
    expect(dev.source).toBe(join(root, '.breakwater/dev-key/signing-key.pem'));
  });

  it('generates the development key once, private key 0600, and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bw-dev-'));
    const first = developmentKey(dir);
    expect(developmentKey(dir).keyid).toBe(first.keyid);
    expect(statSync(join(dir, '.breakwater/dev-key/signing-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, '.breakwater/dev-key')).mode & 0o777).toBe(0o700);
  });

  it('refuses a signing key that git tracks', () => {
    const repo = mkdtempSync(join(tmpdir(), 'bw-repo-'));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd: repo, stdio: 'ignore' });
    git('init', '-q');
    const file = join(repo, 'release.key');
    writeFileSync(file, generateKeyPair().privatePem, { mode: 0o600 });
    expect(loadPrivateKey(file).trust).toBe('configured');
    git('add', '-f', 'release.key');
    expect(() => loadPrivateKey(file)).toThrow(/is tracked by git; a signing key must never be in the repo/);
  });
});
