import { defineScenario } from '../../harness/index.ts';

/** Every answer from the database arrives 300 ms ± 50 ms late while the API mix runs. */
export default defineScenario({
  name: 'db-latency',
  description: 'Database latency 300 ms ± 50 ms under the API mix: slower, but every request answers and nothing is lost.',
  // Half the default rate: at 40/s the 20-connection pool queues, and the test would measure the queue rather than the latency.
  load: { script: 'scenarios/load/chat-mix.ts', env: { RATE: '20' } },
  baseline: '6s',
  method: [{ at: 0, for: '12s', fault: { toxic: 'latency', link: '@postgres', stream: 'downstream', attributes: { latency: 300, jitter: 50 } } }],
  steadyState: {
    // A request makes one to three queries: it may take a second, but it must answer.
    during: { 'http-latency-p95': 4000, 'http-error-rate': 0.05 },
  },
  recovery: { within: '10s' },
  after: '5s',
});
