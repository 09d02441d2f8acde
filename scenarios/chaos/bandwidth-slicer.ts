import { defineScenario } from '../../harness/index.ts';

/** Client uploads squeezed to 16 KB/s, and the replies (WebSocket frames included) sliced into tiny TCP segments. */
export default defineScenario({
  name: 'bandwidth-slicer',
  description: 'Client-to-app bandwidth limit plus slicer on the WebSocket traffic: frames arrive in pieces and slowly, but whole and in order.',
  load: { script: 'scenarios/load/ws-fanout.ts' },
  baseline: '6s',
  method: [
    { at: 0, for: '12s', fault: { toxic: 'bandwidth', link: '@entry', stream: 'upstream', attributes: { rate: 16 } } },
    { at: 0, for: '12s', fault: { toxic: 'slicer', link: '@entry', stream: 'downstream', attributes: { average_size: 32, size_variation: 16, delay: 200 } } },
  ],
  steadyState: {
    during: { 'http-error-rate': 0.01, 'ws-delivery-p95': 3000 },
  },
  recovery: { within: '10s' },
  after: '5s',
});
