import { printResults } from './print.ts';
import { benchCleanUnderLoad } from './clean-under-load.ts';
import { benchEvidence } from './evidence.ts';
import { benchFlood } from './flood.ts';
import { benchIncident } from './incident.ts';
import { benchK6 } from './k6.ts';
import { benchRestore } from './restore.ts';
import { benchMatrix } from './matrix.ts';
import { benchNightlyRss } from './nightly-rss.ts';
import { benchProperties } from './properties.ts';
import { benchStack } from './stack.ts';
import { benchTarget } from './target.ts';
import type { Bench, BenchResult } from './types.ts';

/**
 * Every bench `npm run bench` runs, in order. To add one, write a file that
 * exports `async function benchX(): Promise<BenchResult>` (start what you need,
 * clean it up in a `finally`) and add `{ name, run }` here.
 * `npm run bench -- <name>...` runs only the named ones. Exits 1 when a bench
 * fails or a figure misses its goal, 2 on an unknown bench name.
 */
export const BENCHES: Bench[] = [
  { name: 'target', run: benchTarget },
  { name: 'stack', run: benchStack },
  { name: 'matrix', run: benchMatrix },
  { name: 'properties', run: benchProperties },
  { name: 'flood', run: benchFlood },
  { name: 'evidence', run: benchEvidence },
  { name: 'k6', run: benchK6 },
  { name: 'nightly-rss', run: benchNightlyRss },
  { name: 'restore', run: benchRestore },
  { name: 'incident', run: benchIncident },
  { name: 'clean-under-load', run: benchCleanUnderLoad },
];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
  if (unknown.length) {
    process.stderr.write(`bench: unknown bench ${unknown.map((u) => `"${u}"`).join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}\n`);
    process.exit(2);
  }
  const selected = wanted.length ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
  const results: Array<{ name: string; result?: BenchResult; error?: string }> = [];
  for (const b of selected) {
    process.stderr.write(`bench: running ${b.name}...\n`);
    try {
      results.push({ name: b.name, result: await b.run() });
    } catch (err) {
      results.push({ name: b.name, error: (err as Error).message });
    }
  }
  printResults(results);
  const failed = results.some((r) => r.error !== undefined || r.result?.figures.some((f) => f.pass === false));
  process.exitCode = failed ? 1 : 0;
}

await main();
