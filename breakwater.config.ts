import { defineConfig } from './harness/index.ts';
import referenceChat from './profiles/reference-chat.ts';

/**
 * The project config: Breakwater's own reference target. A team adopting
 * Breakwater writes a profile for its service and points `target` at it.
 */
export default defineConfig({
  target: referenceChat,
  provider: 'local',
  allowlist: ['127.0.0.1', 'localhost', '::1'],
  out: 'reports',
  // The evidence subject digests the reference target's tracked files.
  artifact: ['target'],
  tiers: {
    pr: { suites: ['suites/**/*.pr.test.ts'], numRuns: 25 },
    nightly: { suites: ['suites/**/*.test.ts'], numRuns: 1000 },
    drill: { suites: ['suites/smoke/**/*.test.ts'] },
  },
});
