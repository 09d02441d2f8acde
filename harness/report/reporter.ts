import type { Redactor } from '../safety/redact.ts';
import type { CheckResult, Finding, RunResult } from '../run/result.ts';
import { htmlReporter } from './html-reporter.ts';
import { junitReporter } from './junit-reporter.ts';
import { markdownReporter } from './markdown-reporter.ts';
import { sarifReporter } from './sarif-reporter.ts';

/** What a reporter gets when the run ends. */
export interface ReporterContext {
  outDir: string;
  redactor: Redactor;
  /**
   * Writes `<outDir>/<file>` atomically after passing the text through the
   * run's redactor, and returns the absolute path. Reporters write only through this.
   */
  emit(file: string, text: string): string;
}

/** The run as it is known when it starts. */
export type RunStart = Pick<RunResult, 'runId' | 'tier' | 'target' | 'startedAt'>;

/**
 * A report format. Every hook is optional; each fires once per run, in this
 * order: `onRunStart`, `onCheck` for every check, `onFinding` for every
 * finding, then `onRunEnd` with the whole run result, which returns the path
 * of the file the reporter wrote (or undefined when it wrote none).
 */
export interface Reporter {
  name: string;
  onRunStart?(run: RunStart): void | Promise<void>;
  onCheck?(check: CheckResult): void | Promise<void>;
  onFinding?(finding: Finding): void | Promise<void>;
  onRunEnd?(result: RunResult, ctx: ReporterContext): Promise<string | undefined>;
}

/** The reporters by name; a factory each, so no state outlives one run. */
export const REPORTERS = {
  junit: junitReporter,
  sarif: sarifReporter,
  markdown: markdownReporter,
  html: htmlReporter,
} satisfies Record<string, () => Reporter>;

export type ReporterName = keyof typeof REPORTERS;

export interface ReporterFailure {
  reporter: string;
  hook: string;
  message: string;
}

/** Feeds several reporters as one; see {@link multiplex}. */
export interface ReporterMultiplexer {
  onRunStart(run: RunStart): Promise<void>;
  onCheck(check: CheckResult): Promise<void>;
  onFinding(finding: Finding): Promise<void>;
  /** Paths written, by reporter name. */
  onRunEnd(result: RunResult, ctx: ReporterContext): Promise<Record<string, string>>;
  /** Every hook that threw, in order. */
  readonly failures: ReporterFailure[];
}

/**
 * Calls each hook on every reporter in turn. A reporter whose hook throws is
 * isolated: its error is collected, it gets no further hooks (its report would
 * be incomplete), and the other reporters carry on.
 */
export function multiplex(reporters: Reporter[]): ReporterMultiplexer {
  const failures: ReporterFailure[] = [];
  const failed = new Set<Reporter>();
  async function each<R>(hook: keyof Omit<Reporter, 'name'>, call: (r: Reporter) => Promise<R> | R | undefined): Promise<Array<[Reporter, R]>> {
    const out: Array<[Reporter, R]> = [];
    for (const r of reporters) {
      if (failed.has(r) || !r[hook]) continue;
      try {
        out.push([r, (await call(r)) as R]);
      } catch (err) {
        failed.add(r);
        failures.push({ reporter: r.name, hook, message: (err instanceof Error ? err.message : String(err)).split('\n')[0]! });
      }
    }
    return out;
  }
  return {
    failures,
    async onRunStart(run) {
      await each('onRunStart', (r) => r.onRunStart!(run));
    },
    async onCheck(check) {
      await each('onCheck', (r) => r.onCheck!(check));
    },
    async onFinding(finding) {
      await each('onFinding', (r) => r.onFinding!(finding));
    },
    async onRunEnd(result, ctx) {
      const written = await each('onRunEnd', (r) => r.onRunEnd!(result, ctx));
      return Object.fromEntries(written.filter(([, path]) => path !== undefined).map(([r, path]) => [r.name, path as string]));
    },
  };
}
