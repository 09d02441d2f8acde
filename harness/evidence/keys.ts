import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BreakwaterError, oneLine } from '../errors.ts';

/** How far a verifier may trust who signed: a key the user configured, or the throwaway development key. */
export type SignerTrust = 'configured' | 'development';

/** A private ed25519 key ready to sign evidence. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Hex sha256 of the public key's SPKI DER. */
  keyid: string;
  trust: SignerTrust;
  /** Where the key came from, for messages: a path or an environment variable. Never the key itself. */
  source: string;
}

/** The dev key lives here, relative to the project root (`.breakwater/` is git-ignored). */
export const DEV_KEY_DIR = '.breakwater/dev-key';
export const DEV_PRIVATE_KEY_FILE = 'signing-key.pem';
export const DEV_PUBLIC_KEY_FILE = 'signing-key.pub.pem';

/** keyid = hex sha256 of the SPKI DER of the public key: the same key always has the same id. */
export function keyidOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** A fresh ed25519 key pair as PEM: PKCS#8 private, SPKI public. */
export function generateKeyPair(): { privatePem: string; publicPem: string; keyid: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyid: keyidOf(publicKey),
  };
}

/** Parses a private ed25519 PEM; `source` names where it came from in the error. */
export function parsePrivateKey(pem: string | Buffer, source: string, trust: SignerTrust = 'configured'): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    const hint = /PUBLIC KEY/.test(String(pem)) ? 'it holds a public key; signing needs the private key' : oneLine(err);
    throw new BreakwaterError('BW_KEY_INVALID', `${source} is not a PEM private key (${hint}); create one with \`breakwater keygen\``);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new BreakwaterError('BW_KEY_INVALID', `${source} is a ${privateKey.asymmetricKeyType} key; evidence is signed with ed25519, create one with \`breakwater keygen\``);
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyid: keyidOf(publicKey), trust, source };
}

/** Parses a public ed25519 key (SPKI PEM). A private key is refused: verifiers only ever need the public half. */
export function parsePublicKey(pem: string | Buffer, source: string): KeyObject {
  if (/PRIVATE KEY/.test(String(pem))) {
    throw new BreakwaterError('BW_KEY_INVALID', `${source} is a private key; pass the public key (the .pub.pem that \`breakwater keygen\` wrote) and keep the private key secret`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new BreakwaterError('BW_KEY_INVALID', `${source} is not a PEM public key (${oneLine(err)}); pass the .pub.pem that \`breakwater keygen\` wrote`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new BreakwaterError('BW_KEY_INVALID', `${source} is a ${key.asymmetricKeyType} key; Breakwater evidence is signed with ed25519`);
  }
  return key;
}

function readKeyFile(path: string, what: string): Buffer {
  if (!existsSync(path)) throw new BreakwaterError('BW_KEY_INVALID', `${what} ${path} does not exist; create a key pair with \`breakwater keygen\``);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new BreakwaterError('BW_KEY_INVALID', `${what} ${path} cannot be read (${oneLine(err)})`);
  }
}

/** Loads a public key file (SPKI PEM). */
export function loadPublicKey(path: string): KeyObject {
  const abs = resolve(path);
  return parsePublicKey(readKeyFile(abs, 'public key'), abs);
}

/** True when git tracks `path` (so a key there would be committed). */
function isTrackedByGit(path: string): boolean {
  try {
    execFileSync('git', ['ls-files', '--error-unmatch', path], { cwd: dirname(path), stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** Loads a private signing key file; refuses one that git tracks, since a signing key must never be in the repo. */
export function loadPrivateKey(path: string): SigningKey {
  const abs = resolve(path);
  const key = parsePrivateKey(readKeyFile(abs, 'signing key'), abs);
  if (isTrackedByGit(abs)) {
    throw new BreakwaterError('BW_KEY_INVALID', `signing key ${abs} is tracked by git; a signing key must never be in the repo: remove it from git, rotate it, and keep the new one outside the repo`);
  }
  return key;
}

/**
 * The development key of a project: generated once into `<rootDir>/.breakwater/dev-key/`
 * and reused. It is marked untrusted in every statement it signs. Two runs that
 * start at once race safely: each writes a complete key pair into its own temp
 * dir, and only the first rename into place wins; the loser reads the winner's.
 */
export function developmentKey(rootDir: string): SigningKey {
  const dir = join(rootDir, DEV_KEY_DIR);
  const privatePath = join(dir, DEV_PRIVATE_KEY_FILE);
  if (!existsSync(privatePath)) {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
    const tmp = mkdtempSync(`${dir}.tmp-`);
    const pair = generateKeyPair();
    writeFileSync(join(tmp, DEV_PRIVATE_KEY_FILE), pair.privatePem, { mode: 0o600 });
    writeFileSync(join(tmp, DEV_PUBLIC_KEY_FILE), pair.publicPem, { mode: 0o644 });
    writeFileSync(join(tmp, 'README'), 'Throwaway development signing key for Breakwater evidence. Untrusted: configure a real key with `breakwater keygen` and `--key` / BREAKWATER_SIGNING_KEY_FILE.\n');
    chmodSync(tmp, 0o700);
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return parsePrivateKey(readKeyFile(privatePath, 'development key'), privatePath, 'development');
}

export interface SigningKeySources {
  /** `--key <file>`. */
  keyFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Project root, where the development key lives. */
  rootDir: string;
}

/**
 * The key that signs a run's evidence, first found wins: `--key <file>`,
 * `BREAKWATER_SIGNING_KEY_FILE`, `BREAKWATER_SIGNING_KEY` (the PEM itself),
 * else the project's development key (untrusted).
 */
export function resolveSigningKey(src: SigningKeySources): SigningKey {
  const env = src.env ?? process.env;
  if (src.keyFile) return loadPrivateKey(src.keyFile);
  if (env.BREAKWATER_SIGNING_KEY_FILE) return loadPrivateKey(env.BREAKWATER_SIGNING_KEY_FILE);
  if (env.BREAKWATER_SIGNING_KEY) return parsePrivateKey(env.BREAKWATER_SIGNING_KEY, 'BREAKWATER_SIGNING_KEY');
  return developmentKey(src.rootDir);
}
