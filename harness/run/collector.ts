import { relative } from 'node:path';
import type { Reporter, TestCase, TestModule, SerializedError } from 'vitest/node';
import type { CheckResult, Finding, MatrixCellResult, UnconfirmedFinding } from './result.ts';
import '../suite/provided.ts';

/**
 * A vitest reporter that turns the test tree into check results and findings.
 * It reads task meta only, never console output.
 */
export class CollectorReporter implements Reporter {
  readonly checks: CheckResult[] = [];
  readonly findings: Finding[] = [];
  readonly unconfirmed: UnconfirmedFinding[] = [];
  readonly matrix: MatrixCellResult[] = [];
  readonly secrets: string[] = [];
  readonly errors: string[] = [];
  total = 0;
  done = 0;

  constructor(
    private readonly rootDir: string,
    private readonly onProgress?: (done: number, total: number, last: string) => void,
  ) {}

  onTestModuleCollected(mod: TestModule): void {
    this.total += [...mod.children.allTests()].length;
    this.onProgress?.(this.done, this.total, '');
  }

  onTestCaseResult(tc: TestCase): void {
    this.done++;
    this.onProgress?.(this.done, this.total, tc.name);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): void {
    for (const mod of modules) {
      const suite = relative(this.rootDir, mod.moduleId);
      const modErrors = mod.errors();
      for (const e of modErrors) this.errors.push(`${suite}: ${firstLine(e.message)}`);
      for (const tc of mod.children.allTests()) {
        const result = tc.result();
        const meta = tc.meta().breakwater;
        const findings = meta?.findings ?? [];
        this.findings.push(...findings);
        this.unconfirmed.push(...(meta?.unconfirmed ?? []));
        this.secrets.push(...(meta?.secrets ?? []));
        this.matrix.push(...(meta?.matrix ?? []));
        const state = result.state === 'passed' ? 'passed' : result.state === 'failed' ? 'failed' : 'skipped';
        this.checks.push({
          name: `${suite} > ${tc.fullName}`,
          suite,
          state,
          durationMs: Math.round(tc.diagnostic()?.duration ?? 0),
          error: state === 'failed' ? firstLine(result.errors?.[0]?.message ?? 'failed') : undefined,
          ...(result.state === 'skipped' && result.note ? { note: firstLine(result.note) } : {}),
          ...(meta?.cases?.inconclusive.length ? { inconclusive: summarizeInconclusive(meta.cases) } : {}),
          ...(meta?.figures?.length ? { figures: meta.figures } : {}),
          findings: findings.length,
          findingIds: findings.map((f) => f.id),
        });
      }
    }
    for (const e of unhandled) this.errors.push(firstLine(e.message ?? String(e)));
  }
}

function firstLine(s: string): string {
  return (s ?? '').split('\n')[0]!.slice(0, 500);
}

/** The inconclusive cases of one check, counted by reason ("rate-limited (429) ×12"). */
export function summarizeInconclusive(cases: { conclusive: number; inconclusive: Array<{ subject: string; why: string }> }): { cases: number; conclusive: number; reasons: string[] } {
  const byWhy = new Map<string, number>();
  for (const c of cases.inconclusive) byWhy.set(c.why, (byWhy.get(c.why) ?? 0) + 1);
  return { cases: cases.inconclusive.length, conclusive: cases.conclusive, reasons: [...byWhy].map(([why, n]) => `${why} ×${n}`) };
}
