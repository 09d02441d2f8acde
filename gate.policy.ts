import { defineGatePolicy } from './harness/index.ts';
import referenceChat from './profiles/reference-chat.ts';

/**
 * The release gate for the reference project: `breakwater gate --stage <stage>`.
 * Each stage asks more of the evidence than the one before it.
 */
export default defineGatePolicy({
  // The profile's SLOs: what the rubric's measurement completeness counts.
  slos: referenceChat.slos.map((s) => s.id),
  stages: {
    // Every pull request: the PR tier of this commit, from today; a high finding blocks the merge.
    pr: { tiers: ['pr'], maxSeverity: 'medium', maxEvidenceAge: '24h' },
    // Every night: the deep tier as well, and the latency and error SLOs it measures under load.
    nightly: { tiers: ['pr', 'nightly'], maxSeverity: 'medium', slos: ['http-latency-p95', 'http-error-rate'], maxEvidenceAge: '36h' },
    // A release: nothing above low, every SLO, a rollback and a restore rehearsed this month,
    // and only evidence of sealed runs (no run that could have reached the network off this machine).
    release: {
      tiers: ['pr', 'nightly'],
      maxSeverity: 'low',
      slos: referenceChat.slos.map((s) => s.id),
      maxEvidenceAge: '24h',
      drills: { rollback: '35d', 'backup-restore': '35d' },
      network: 'sealed',
    },
  },
});
