import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pc from 'picocolors';
import { loadConfig } from '../config/load-config.ts';
import { BreakwaterError, EXIT } from '../errors.ts';
import type { Finding, RunResult } from '../run/result.ts';
import { runTier } from '../run/run-tier.ts';
import { Progress } from './progress.ts';
import { endedByInterrupt, type Interrupts } from './run-command.ts';
import { sealLocalRun, type NetworkChoice } from './sealed-run.ts';

/** Reads a run's run.json, failing in one line when it is missing or not a run result. */
export function readRunResult(dir: string): RunResult {
  const file = existsSync(join(dir, 'run.json')) ? join(dir, 'run.json') : dir;
  if (!existsSync(file)) throw new BreakwaterError('BW_USAGE', `no run.json in ${dir}; pass --run <the output dir of a breakwater run>`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new BreakwaterError('BW_USAGE', `${file} is not valid JSON (truncated or corrupt); use the run.json a breakwater run wrote`);
  }
  const r = parsed as Partial<RunResult>;
  if (r?.schemaVersion !== 1 || !Array.isArray(r.findings) || typeof r.tier !== 'string') {
    throw new BreakwaterError('BW_USAGE', `${file} is not a Breakwater run result (schemaVersion 1); use the run.json a breakwater run wrote`);
  }
  return r as RunResult;
}

/**
 * `breakwater replay <finding-id> --run <dir>`: re-runs exactly the failing
 * case of a recorded finding (its seed and counterexample path) against a
 * freshly started stack with the same flaw switches. Exit 1 when the finding
 * reproduces, 0 when it does not.
 */
export async function replayCommand(id: string, opts: { run: string; config: string; out?: string; json?: boolean; network?: NetworkChoice }, intr: Interrupts): Promise<void> {
  const recorded = readRunResult(resolve(opts.run));
  const matches = recorded.findings.filter((f) => f.id === id || (id.length >= 6 && f.id.startsWith(id)));
  if (matches.length === 0) throw new BreakwaterError('BW_USAGE', `no finding ${id} in ${opts.run} (it has ${recorded.findings.length}); copy an id from its run.json`);
  if (matches.length > 1) throw new BreakwaterError('BW_USAGE', `finding id prefix ${id} is ambiguous in ${opts.run}; give more characters`);
  const finding: Finding = matches[0]!;
  if (finding.reproduce.seed === undefined) {
    throw new BreakwaterError('BW_USAGE', `finding ${finding.id} (${finding.check}) did not come from a generated input, so it has no seed to replay; re-run it with: ${finding.reproduce.command}`);
  }
  const progress = new Progress(process.stderr, false);
  intr.onSignal((sig) => progress.step(`${sig} received: stopping the stack`));
  try {
    const config = await loadConfig(opts.config);
    const sealing = await sealLocalRun(config.provider, opts.network);
    if (sealing.ranSealed) {
      progress.close();
      process.exitCode = sealing.exitCode;
      return;
    }
    progress.step(`replaying ${finding.id} (${finding.check}, seed ${finding.reproduce.seed}${finding.reproduce.path ? `, path ${finding.reproduce.path}` : ''}) with flaws [${recorded.target.flaws.join(',')}]`);
    const { result, runJson } = await runTier({
      config,
      tier: recorded.tier,
      out: opts.out,
      suiteFilters: [finding.suite],
      flaws: recorded.target.flaws,
      seed: finding.reproduce.seed,
      hostNetworkReason: sealing.hostReason,
      replay: { findingId: finding.id, check: finding.check, subject: finding.subject, seed: finding.reproduce.seed, path: finding.reproduce.path },
      signal: intr.signal,
      onStep: (s) => progress.step(s),
      onProgress: (d, t, l) => progress.tests(d, t, l),
    });
    progress.close();
    const again = result.findings.find((f) => f.id === finding.id);
    if (opts.json) process.stdout.write(JSON.stringify({ reproduced: !!again, finding: finding.id, evidence: runJson, observed: again?.observed }) + '\n');
    else if (again) process.stdout.write(`${pc.red('reproduced')}: [${again.severity}] ${again.title}\n  observed ${again.observed}\n  evidence: ${runJson}\n`);
    else process.stdout.write(`${pc.green('not reproduced')}: ${finding.id} did not fail again with seed ${finding.reproduce.seed}\n  evidence: ${runJson}\n`);
    process.exitCode = again ? EXIT.blocked : EXIT.pass;
  } catch (err) {
    progress.close();
    if (!endedByInterrupt(intr, err)) throw err;
  }
}
