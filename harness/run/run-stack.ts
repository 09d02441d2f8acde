import type { ResolvedConfig } from '../config/load-config.ts';
import { startEgressFixtures, type EgressFixtures } from '../stack/egress-fixtures.ts';
import { startStack } from '../stack/start-stack.ts';
import type { ProviderName, StartedStack } from '../stack/types.ts';

/** A started stack with the SSRF fixtures it was started against, and the environment its services got. */
export interface RunStack {
  stack: StartedStack;
  egress?: EgressFixtures;
  env: NodeJS.ProcessEnv;
}

/**
 * Starts the egress fixtures (when the profile has egress endpoints) and then
 * the stack, with the fixtures' allowed origin in the services' environment
 * and the harness's signing key out of it. A failed start closes the fixtures.
 */
export async function startRunStack(
  config: ResolvedConfig,
  opts: { provider?: ProviderName; attachUrl?: string; runId: string; outDir: string; flaws?: string[]; onStep?: (s: string) => void; signal?: AbortSignal },
): Promise<RunStack> {
  // The SSRF suite's canary and allowed origin exist before the stack, so the target's test allowlist can name the origin.
  const egress = config.target.egress?.length ? await startEgressFixtures() : undefined;
  const env = { ...process.env };
  // The signing key (or where it is) is the harness's, never the target's: services under test must not see it.
  for (const k of Object.keys(env)) if (k.startsWith('BREAKWATER_SIGNING_KEY')) delete env[k];
  if (opts.flaws) env.TARGET_FLAWS = opts.flaws.join(',');
  for (const e of config.target.egress ?? []) if (e.testOriginEnv && egress) env[e.testOriginEnv] = egress.allowedOrigin;
  opts.onStep?.(`starting the ${opts.provider ?? config.provider} stack`);
  try {
    const stack = await startStack(config, { provider: opts.provider, attachUrl: opts.attachUrl, runId: opts.runId, outDir: opts.outDir, env, onStep: opts.onStep, signal: opts.signal });
    return { stack, egress, env };
  } catch (err) {
    await egress?.close();
    throw err;
  }
}
