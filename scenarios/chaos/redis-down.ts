import { defineScenario } from '../../harness/index.ts';

/** Redis unreachable for 10 s: every connection refused and dropped. */
export default defineScenario({
  name: 'redis-down',
  description: 'Redis down for 10 s: requests that need it fail fast, and the service reconnects on its own once Redis is back.',
  load: { script: 'scenarios/load/chat-mix.ts' },
  baseline: '5s',
  method: [{ at: 0, for: '10s', fault: { down: '@redis' } }],
  steadyState: {
    during: { 'http-latency-p95': 2500 },
  },
  recovery: { within: '15s' },
  after: '5s',
});
