import { defineDrill } from '../../harness/drills/types.ts';

/**
 * Canary and rollback rehearsal: the app started again as a candidate beside
 * the baseline, a quarter of new connections routed to it under the API mix,
 * judged on its SLOs and its boundaries, then promoted or rolled back.
 * `CANDIDATE_FLAWS=channel-read-cross-tenant npx breakwater run --tier drill`
 * rehearses the rollback of a candidate that breaks the tenant boundary.
 */
export default defineDrill({
  name: 'rollback',
  kind: 'canary',
  description: 'A candidate beside the baseline takes 25% of connections for 15 s; a broken boundary or an SLO breach rolls it back, and every acknowledged write must survive.',
  candidate: { envFrom: { TARGET_FLAWS: 'CANDIDATE_FLAWS' } },
  load: { script: 'scenarios/load/chat-mix.ts' },
  weight: 0.25,
  evaluateFor: '15s',
});
