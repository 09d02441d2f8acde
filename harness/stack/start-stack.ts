import type { ResolvedConfig } from '../config/load-config.ts';
import { BreakwaterError } from '../errors.ts';
import { attachStack } from './attach-provider.ts';
import { startLocalStack } from './local-provider.ts';
import type { ProviderName, StartedStack } from './types.ts';

export interface StartStackOptions {
  provider?: ProviderName;
  runId: string;
  outDir: string;
  /** Overrides config.attach.baseUrl. */
  attachUrl?: string;
  onStep?: (step: string) => void;
  signal?: AbortSignal;
  /** Environment the stack's `passEnv` reads (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Starts (or attaches to) the configured stack with the chosen provider. */
export async function startStack(config: ResolvedConfig, opts: StartStackOptions): Promise<StartedStack> {
  const provider = opts.provider ?? (opts.attachUrl ? 'attach' : config.provider);
  if (provider === 'attach') {
    const baseUrl = opts.attachUrl ?? config.attach?.baseUrl;
    if (!baseUrl) throw new BreakwaterError('BW_USAGE', 'the attach provider needs a URL; pass --attach <url> or set attach.baseUrl in breakwater.config.ts');
    return attachStack(config.target.stack, { runId: opts.runId, baseUrl, toxiproxyUrl: config.attach?.toxiproxyUrl, allowlist: config.allowlist });
  }
  if (provider === 'compose') {
    const { startComposeStack } = await import('./compose-provider.ts');
    return startComposeStack(config, opts);
  }
  return startLocalStack(config.target.stack, { runId: opts.runId, outDir: opts.outDir, rootDir: config.rootDir, env: opts.env, onStep: opts.onStep, signal: opts.signal });
}
