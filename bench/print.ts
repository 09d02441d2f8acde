import type { BenchResult } from './types.ts';

/** Prints one table of every figure of every bench, then each bench's notes. */
export function printResults(results: Array<{ name: string; result?: BenchResult; error?: string }>): void {
  const rows: string[][] = [['bench', 'figure', 'value', 'unit', 'goal', 'pass']];
  for (const { name, result, error } of results) {
    if (error !== undefined) rows.push([name, 'FAILED', '-', '-', '-', 'no']);
    for (const f of result?.figures ?? []) {
      const value = Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(2);
      rows.push([name, f.figure, value, f.unit, f.goal ?? '', f.pass === undefined ? '' : f.pass ? 'yes' : 'NO']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
  for (const { name, result, error } of results) {
    if (error !== undefined) console.log(`\n${name}: failed: ${error}`);
    if (result?.notes.length) console.log(`\n${name}:\n${result.notes.map((n) => `  - ${n}`).join('\n')}`);
  }
}
