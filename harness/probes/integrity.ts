/**
 * The Jepsen-style nothing-lost probe: writers append uniquely marked items
 * through faults and log every acknowledgement; once the target has
 * recovered, the checker reads every channel back and reports lost,
 * duplicated and wrong-channel writes.
 */
export { IntegrityWriters, type WritersOptions } from './integrity-writers.ts';
export { checkNothingLost, type CheckOptions, type IntegrityReport } from './check-nothing-lost.ts';
export type { WriteLog, WriteOutcome, WriteRecord } from './write-log.ts';
