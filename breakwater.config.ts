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
    // One short chaos scenario on every PR: database resets, with the nothing-lost check.
    pr: { suites: ['suites/**/*.pr.test.ts'], numRuns: 25, scenarios: ['db-reset-peer'] },
    // Every shipped scenario (scenarios/chaos), the combined storm last.
    nightly: {
      suites: ['suites/**/*.test.ts'],
      numRuns: 1000,
      scenarios: ['db-latency', 'db-reset-peer', 'redis-down', 'bandwidth-slicer', 'app-kill', 'postgres-pause', 'storm'],
    },
    // Monthly: the smoke suite, then the rehearsals the release gate asks for (scenarios/drills).
    drill: { suites: ['suites/smoke/**/*.test.ts'], drills: ['rollback', 'backup-restore', 'incident'] },
  },
});
