import { defineScenario } from '../../harness/index.ts';

/** The app process is killed (SIGKILL) mid-load and started again 3 s later. */
export default defineScenario({
  name: 'app-kill',
  description: 'The app is killed mid-load and restarted: in-flight writes may fail, acknowledged ones must survive, and retries must not duplicate.',
  load: { script: 'scenarios/load/chat-mix.ts' },
  baseline: '5s',
  method: [{ at: 0, for: '3s', fault: { kill: '@app' } }],
  recovery: { within: '20s' },
  after: '5s',
});
