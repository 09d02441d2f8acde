import type { Credentials } from '../config/target.ts';

/**
 * How credentials and route params become an HTTP request. Free of vitest, so
 * engine code outside suites (probes, benchmarks) can use it.
 */

/** Fills `{param}` placeholders. */
export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, (_, k: string) => {
    const v = params[k];
    if (v === undefined) throw new Error(`route ${path} needs "{${k}}" but the instance has no such param (params: ${Object.keys(params).join(', ')})`);
    return encodeURIComponent(v);
  });
}

function cookieHeader(c: Record<string, string>): string {
  return Object.entries(c)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');
}

/** Applies credentials to request headers. */
export function authHeaders(cred: Credentials | undefined): Record<string, string> {
  if (!cred) return {};
  const h: Record<string, string> = { ...(cred.headers ?? {}) };
  if (cred.cookies && Object.keys(cred.cookies).length) h.cookie = cookieHeader(cred.cookies);
  return h;
}

export function credentialSecrets(cred: Credentials): string[] {
  const out: string[] = [];
  for (const v of Object.values(cred.headers ?? {})) out.push(v, v.replace(/^\S+\s+/, ''));
  out.push(...Object.values(cred.cookies ?? {}), ...Object.values(cred.query ?? {}));
  return out;
}
