import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { BreakwaterError } from '../errors.ts';
import { generateKeyPair } from '../evidence/keys.ts';

export const KEYGEN_DEFAULT_DIR = '.breakwater/keys';
export const PRIVATE_KEY_FILE = 'signing-key.pem';
export const PUBLIC_KEY_FILE = 'signing-key.pub.pem';

/** True: git ignores the path; false: git would track it; undefined: not in a git work tree. */
function gitIgnores(path: string): boolean | undefined {
  let cwd = dirname(path);
  while (!existsSync(cwd) && dirname(cwd) !== cwd) cwd = dirname(cwd);
  try {
    execFileSync('git', ['check-ignore', '-q', '--no-index', path], { cwd, stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 1 ? false : undefined;
  }
}

/**
 * `breakwater keygen [--out DIR] [--force]`: writes an ed25519 key pair,
 * `signing-key.pem` (PKCS#8, mode 0600) and `signing-key.pub.pem` (SPKI).
 * Refuses to overwrite a key, and to write a private key where git would commit it.
 */
export function keygenCommand(opts: { out?: string; force?: boolean }): void {
  const dir = resolve(opts.out ?? KEYGEN_DEFAULT_DIR);
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  const publicPath = join(dir, PUBLIC_KEY_FILE);
  if (!opts.force && (existsSync(privatePath) || existsSync(publicPath))) {
    throw new BreakwaterError('BW_USAGE', `${dir} already holds a key pair; keep it, choose another --out, or pass --force to replace it (evidence signed with the old key then no longer verifies with the new public key)`);
  }
  if (gitIgnores(privatePath) === false) {
    throw new BreakwaterError('BW_USAGE', `${privatePath} is inside a git work tree and not git-ignored, so the private key could be committed; use --out outside the repo or under .breakwater/`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = generateKeyPair();
  writeFileSync(privatePath, pair.privatePem, { mode: 0o600, flag: opts.force ? 'w' : 'wx' });
  writeFileSync(publicPath, pair.publicPem, { mode: 0o644, flag: opts.force ? 'w' : 'wx' });
  const show = (p: string) => relative(process.cwd(), p) || p;
  process.stdout.write(`wrote ${show(privatePath)} (private, mode 0600: pass it to run --key or BREAKWATER_SIGNING_KEY_FILE, never commit it) and ${show(publicPath)} (public: for verify, merge and the gate); keyid ${pair.keyid}\n`);
}
