import type { StackDefinition } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { assertAllowed } from '../safety/allowlist.ts';
import { ToxiproxyControl } from './toxiproxy.ts';
import type { StackInfo, StartedStack, StoppedStack } from './types.ts';

export interface AttachOptions {
  runId: string;
  baseUrl: string;
  toxiproxyUrl?: string;
  allowlist: readonly string[];
}

/**
 * Runs against a stack that is already up. It owns no process; it injects
 * faults only through a Toxiproxy API when one is given. Every host is checked
 * against the allowlist before the first packet is sent.
 */
export async function attachStack(def: StackDefinition, opts: AttachOptions): Promise<StartedStack> {
  const base = assertAllowed(opts.baseUrl, opts.allowlist, 'attach URL');
  if (opts.toxiproxyUrl) assertAllowed(opts.toxiproxyUrl, opts.allowlist, 'Toxiproxy URL');
  const entry = def.services[def.links.find((l) => l.name === def.entry)!.to]!;
  const healthPath = entry.kind === 'process' ? entry.health.path : '/';
  try {
    const res = await fetch(new URL(healthPath, base), { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`health check ${healthPath} answered ${res.status}`);
  } catch (err) {
    throw new BreakwaterError('BW_TARGET_UNREACHABLE', `attached target ${base.origin} is not healthy (${oneLine(err)}); check that the stack is running and the URL is right`);
  }
  const toxiproxy = opts.toxiproxyUrl ? new ToxiproxyControl(opts.toxiproxyUrl.replace(/\/$/, '')) : undefined;
  const info: StackInfo = {
    provider: 'attach',
    runId: opts.runId,
    baseUrl: base.origin,
    toxiproxyUrl: toxiproxy?.url,
    links: {},
    services: {},
  };
  let stopping: Promise<StoppedStack> | undefined;
  const stop = () => {
    // Faults this run added are removed; the stack itself is not ours to stop.
    stopping ??= (async () => {
      const teardownErrors: string[] = [];
      if (toxiproxy) await toxiproxy.reset().catch((e) => teardownErrors.push(`toxiproxy reset: ${oneLine(e)}`));
      return { info, incidents: [], teardownErrors };
    })();
    return stopping;
  };
  return { info, toxiproxy, secrets: {}, incidents: () => [], stop, [Symbol.asyncDispose]: async () => void (await stop()) };
}
