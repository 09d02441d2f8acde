import { defineScenario } from '../../harness/index.ts';

/**
 * Database connections reset (TCP RST) in short bursts, over a slow link.
 * The 200 ms latency keeps inserts in flight long enough for a burst to cut
 * them off; without it a burst mostly hits the reads before the insert, and a
 * service that acknowledges before committing would go unnoticed.
 */
export default defineScenario({
  name: 'db-reset-peer',
  description: 'Database connections reset in four short bursts over a slow link: writes may be refused, but none that was acknowledged may be lost.',
  load: { script: 'scenarios/load/chat-mix.ts' },
  baseline: '4s',
  method: [
    { at: 0, for: '4s', fault: { toxic: 'latency', link: '@postgres', stream: 'upstream', attributes: { latency: 200 } } },
    { at: '500ms', for: '300ms', fault: { toxic: 'reset_peer', link: '@postgres', stream: 'upstream', attributes: { timeout: 0 } } },
    { at: '1500ms', for: '300ms', fault: { toxic: 'reset_peer', link: '@postgres', stream: 'upstream', attributes: { timeout: 0 } } },
    { at: '2500ms', for: '300ms', fault: { toxic: 'reset_peer', link: '@postgres', stream: 'upstream', attributes: { timeout: 0 } } },
    { at: '3500ms', for: '300ms', fault: { toxic: 'reset_peer', link: '@postgres', stream: 'upstream', attributes: { timeout: 0 } } },
  ],
  steadyState: {
    // Failed requests are expected during a burst; slow or hung ones are not.
    during: { 'http-latency-p95': 2500 },
  },
  integrity: { ratePerSecond: 40 },
  recovery: { within: '10s' },
  after: '4s',
});
