/**
 * What integrity writers record: one entry per write, whatever happened to it.
 * The log is plain data, so it can be stored with a run and checked later.
 */

/**
 * How a write ended. `acked`: the target acknowledged it (it must be stored).
 * `rejected`: the target answered no to every attempt (it may still be
 * stored). `indeterminate`: at least one attempt got no answer (a timeout or a
 * dropped connection), so it may or may not be stored.
 */
export type WriteOutcome = 'acked' | 'rejected' | 'indeterminate';

export interface WriteRecord {
  /** Unique per write; also the stored payload (or part of it). */
  marker: string;
  /** Key of the channel it was written to. */
  channel: string;
  via: 'http' | 'ws';
  /** When its first attempt was sent (epoch ms). */
  sentAt: number;
  outcome: WriteOutcome;
  ackedAt?: number;
  /** Attempts actually sent (retries reuse the idempotency key). */
  attempts: number;
  /** The last attempt's answer, e.g. `http 503`, `timeout`, `ws ack`, `socket closed`: for reading a report, never for deciding. */
  last?: string;
}

export interface WriteLog {
  writes: WriteRecord[];
  startedAt: number;
  stoppedAt: number;
}
