import type { ResolvedConfig } from '../config/load-config.ts';
import { BreakwaterError } from '../errors.ts';
import type { StartedStack } from './types.ts';
import type { StartStackOptions } from './start-stack.ts';

/** Starts docker-compose.yml through testcontainers. (Being built: see the compose provider issue.) */
export async function startComposeStack(_config: ResolvedConfig, _opts: StartStackOptions): Promise<StartedStack> {
  throw new BreakwaterError('BW_TOOL_MISSING', 'the compose provider is not available yet; use --provider local');
}
