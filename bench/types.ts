/** One measured figure of a bench, e.g. `{ figure: 'p95 latency', value: 12.3, unit: 'ms', goal: '< 20', pass: true }`. */
export interface BenchFigure {
  figure: string;
  value: number;
  unit: string;
  /** The goal as written for people, e.g. `< 20`. */
  goal?: string;
  /** Whether the value meets the goal; absent when the figure has no goal. */
  pass?: boolean;
}

/** What a bench returns: its figures, and notes on how to read them (method, caveats). */
export interface BenchResult {
  figures: BenchFigure[];
  notes: string[];
}

/** A bench registered in bench/index.ts. `run` owns and cleans up everything it starts, also when it fails. */
export interface Bench {
  name: string;
  run(): Promise<BenchResult>;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
