import { defineDrill } from '../../harness/drills/types.ts';

/**
 * Incident simulation: Postgres unreachable for 15 s under the API mix. Every
 * request that needs the database answers 503, so the error-budget burn must
 * page, and the dependency alert must name Postgres, while the fault is in
 * place; every alert must link a runbook. The clean run (no fault) must page
 * nobody.
 */
export default defineDrill({
  name: 'incident',
  kind: 'incident',
  description: 'Postgres down for 15 s under load: the error-budget burn pages and the dependency alert names Postgres, each with a runbook.',
  load: { script: 'scenarios/load/chat-mix.ts' },
  rules: 'ops/alerts/reference-chat.rules.yml',
  fault: { down: '@postgres' },
  for: '15s',
  expect: ['ErrorBudgetBurnFast', 'ErrorBudgetBurnSlow', 'DependencyUnavailable'],
});
