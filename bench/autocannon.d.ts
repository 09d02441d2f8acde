// The slice of autocannon 8's API that the benches use; the package ships no types.
declare module 'autocannon' {
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Returns the raw result, with `latencies` as an encoded HDR histogram instead of fixed percentiles. */
    skipAggregateResult?: boolean;
    /** Requests each connection cycles through, in order. */
    requests?: Array<{ method?: string; path?: string; headers?: Record<string, string>; body?: string }>;
  }
  interface RawResult {
    latencies: string;
    totalCompletedRequests: number;
    totalRequests: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    duration: number;
    statusCodeStats: Record<string, { count: number }>;
  }
  function autocannon(opts: Options): Promise<RawResult> & { stop(): void };
  export default autocannon;
}
