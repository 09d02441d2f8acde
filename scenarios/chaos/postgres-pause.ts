import { defineScenario } from '../../harness/index.ts';

/** Postgres frozen (SIGSTOP) for 8 s, then continued: connections stay open but nothing answers. */
export default defineScenario({
  name: 'postgres-pause',
  description: 'Postgres paused, then resumed: the service must answer within its dependency timeout instead of hanging, and pick up where it left off.',
  load: { script: 'scenarios/load/chat-mix.ts' },
  baseline: '5s',
  method: [{ at: 0, for: '8s', fault: { pause: '@postgres' } }],
  steadyState: {
    // Errors are expected while the database is frozen; waiting longer than the timeout is not.
    during: { 'http-latency-p95': 2500 },
    hungRequests: 0,
  },
  recovery: { within: '15s' },
  after: '5s',
});
