import { defineScenario } from '../../harness/index.ts';

/** Everything at once, overlapping: the nightly tier's combined storm. */
export default defineScenario({
  name: 'storm',
  description: 'Combined storm: database latency, Redis resets, a client bandwidth limit and an app kill, overlapping.',
  load: { script: 'scenarios/load/chat-mix.ts', runners: 2 },
  baseline: '6s',
  method: [
    { at: 0, for: '20s', fault: { toxic: 'latency', link: '@postgres', stream: 'downstream', attributes: { latency: 150, jitter: 50 } } },
    { at: '2s', for: '2s', fault: { toxic: 'reset_peer', link: '@redis', stream: 'upstream', attributes: { timeout: 0 } } },
    { at: '4s', for: '10s', fault: { toxic: 'bandwidth', link: '@entry', stream: 'upstream', attributes: { rate: 64 } } },
    { at: '9s', for: '3s', fault: { kill: '@app' } },
    { at: '15s', for: '2s', fault: { toxic: 'reset_peer', link: '@postgres', stream: 'upstream', attributes: { timeout: 0 } } },
  ],
  recovery: { within: '20s' },
  after: '5s',
});
