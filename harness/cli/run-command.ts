import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import pc from 'picocolors';
import type { Tier } from '../config/config.ts';
import { loadConfig } from '../config/load-config.ts';
import type { Severity } from '../config/target.ts';
import { BreakwaterError, EXIT } from '../errors.ts';
import { parseEnvelope } from '../evidence/dsse.ts';
import { loadPrivateKey } from '../evidence/keys.ts';
import { runTier } from '../run/run-tier.ts';
import type { RunResult } from '../run/result.ts';
import type { ProviderName } from '../stack/types.ts';
import { drillRecords, scenarioJournals } from '../report/html-reporter.ts';
import { Progress } from './progress.ts';
import { sealLocalRun, type NetworkChoice } from './sealed-run.ts';

export interface RunCommandOptions {
  config: string;
  tier: Tier;
  out?: string;
  json?: boolean;
  suite?: string[];
  scenario?: string[];
  drill?: string[];
  provider?: ProviderName;
  attach?: string;
  failOn: Severity;
  seed?: number;
  /** Private key file that signs the evidence. */
  key?: string;
  /** `sealed` (default for the local provider) or `host`. */
  network?: NetworkChoice;
}

/** Who signed a run's evidence, read back from the envelope the run just wrote. */
export function evidenceSigner(path: string): { trust: string; keyid: string } | undefined {
  try {
    const env = parseEnvelope(readFileSync(path));
    if (!env.ok) return undefined;
    return (JSON.parse(env.envelope.payload.toString('utf8')) as { predicate?: { signer?: { trust: string; keyid: string } } }).predicate?.signer;
  } catch {
    return undefined;
  }
}

/** Aborts on the first SIGINT or SIGTERM so the run can stop its stack; a second signal is reported but cleanup still finishes. */
export interface Interrupts {
  signal: AbortSignal;
  received(): NodeJS.Signals | undefined;
  /** Called on the first signal (e.g. to show progress). */
  onSignal(fn: (sig: NodeJS.Signals) => void): void;
  dispose(): void;
}

export function interruptController(early: NodeJS.Signals[] = []): Interrupts {
  const ac = new AbortController();
  let got: NodeJS.Signals | undefined;
  let listener: ((sig: NodeJS.Signals) => void) | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (!got) {
      got = sig;
      listener?.(sig);
      ac.abort();
    } else {
      process.stderr.write('breakwater: still stopping the stack; it will be gone in a few seconds\n');
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  for (const sig of early) handler(sig);
  return {
    signal: ac.signal,
    received: () => got,
    onSignal(fn) {
      listener = fn;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

export const INTERRUPT_EXIT: Record<string, number> = { SIGINT: EXIT.interrupted, SIGTERM: 143 };

export const VERDICT_EXIT: Record<RunResult['verdict'], number> = { pass: EXIT.pass, blocked: EXIT.blocked, error: EXIT.infra };

/** Prints the human summary of a run on stdout. */
export function printSummary(result: RunResult, evidence: string, signer?: { trust: string; keyid: string }): void {
  const v = result.verdict === 'pass' ? pc.green('PASS') : result.verdict === 'blocked' ? pc.red('BLOCKED') : pc.yellow('ERROR');
  const passed = result.checks.filter((c) => c.state === 'passed').length;
  const lines = [
    `${pc.bold('Breakwater')} ${result.tier} tier on ${result.target.name}${result.target.flaws.length ? ` (flaws: ${result.target.flaws.join(',')})` : ''}: ${v}`,
    `  ${passed}/${result.checks.length} checks passed, ${result.findings.length} finding(s), ${(result.durationMs / 1000).toFixed(1)} s`,
  ];
  for (const j of scenarioJournals(result)) {
    const mark = j.status === 'ok' ? pc.green('✓') : pc.red('✗');
    const rec = j.recoveryMs !== undefined ? `recovered in ${(j.recoveryMs / 1000).toFixed(1)} s` : 'did not recover';
    const lost = j.integrity ? `, ${j.integrity.acked} writes acknowledged, ${j.integrity.lost} lost` : '';
    lines.push(`  ${mark} scenario ${j.name}: ${j.status} (${rec}${lost})`);
  }
  for (const d of drillRecords(result)) lines.push(`  ${d.status === 'passed' ? pc.green('✓') : pc.red('✗')} drill ${d.name}: ${d.status}${d.summary ? ` (${d.summary})` : ''}`);
  for (const f of result.findings.slice(0, 20)) lines.push(`  ${pc.red('✗')} [${f.severity}] ${f.title} ${pc.dim(`(${f.check}, ${f.id})`)}`);
  if (result.findings.length > 20) lines.push(`  … ${result.findings.length - 20} more in run.json`);
  if (result.unconfirmed?.length) lines.push(`  ${pc.yellow('?')} ${result.unconfirmed.length} unconfirmed finding(s): they did not happen again when re-run, so they block nothing (run.json unconfirmed)`);
  const unjudged = result.checks.filter((c) => c.inconclusive?.cases);
  if (unjudged.length) {
    const cases = unjudged.reduce((n, c) => n + c.inconclusive!.cases, 0);
    lines.push(`  ${pc.yellow('?')} ${cases} inconclusive case(s) in ${unjudged.length} check(s): neither passes nor findings`);
    for (const c of unjudged.slice(0, 5)) lines.push(`    ${c.name}: ${c.inconclusive!.cases} (${c.inconclusive!.reasons.join('; ')})`);
  }
  for (const r of result.reasons.filter((r) => !/finding/.test(r)).slice(0, 10)) lines.push(`  ${pc.yellow('!')} ${r}`);
  if (result.network?.mode === 'host') {
    const offHost = result.network.offHostTargets === 'allowed' ? 'sent (the profile allows it for this tier)' : 'skipped';
    lines.push(`  ${pc.yellow('!')} network not sealed (${result.network.reason}); SSRF cases naming non-loopback addresses were ${offHost}`);
  }
  lines.push(`  evidence: ${relative(process.cwd(), evidence) || evidence}${signer ? ` (signed by ${signer.keyid.slice(0, 16)})` : ''}`);
  if (signer?.trust === 'development') {
    lines.push(`  ${pc.yellow('!')} the evidence is signed with an untrusted development key (.breakwater/dev-key); a gate should not accept it: create a key with \`breakwater keygen\` and pass --key or BREAKWATER_SIGNING_KEY_FILE`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** `breakwater run`. Sets process.exitCode: 0 pass, 1 blocked, 2 usage, 3 infrastructure, 130/143 interrupted. */
export async function runCommand(opts: RunCommandOptions, intr: Interrupts): Promise<void> {
  const progress = new Progress(process.stderr, false);
  intr.onSignal((sig) => progress.step(`${sig} received: stopping the stack`));
  try {
    if (intr.signal.aborted) throw new BreakwaterError('BW_INTERRUPTED', 'interrupted before the run started');
    if (opts.key) {
      // Checked before the stack starts, so a bad key costs no run; the evidence writer reads it from the environment.
      loadPrivateKey(opts.key);
      process.env.BREAKWATER_SIGNING_KEY_FILE = resolve(opts.key);
    }
    const config = await loadConfig(opts.config);
    if (intr.signal.aborted) throw new BreakwaterError('BW_INTERRUPTED', 'interrupted before the run started');
    const sealing = await sealLocalRun(opts.attach ? 'attach' : (opts.provider ?? config.provider), opts.network);
    if (sealing.ranSealed) {
      progress.close();
      process.exitCode = sealing.exitCode;
      return;
    }
    const { result, runJson, outDir, artifacts } = await runTier({
      config,
      tier: opts.tier,
      out: opts.out,
      suiteFilters: opts.suite,
      scenarios: opts.scenario,
      drills: opts.drill,
      provider: opts.attach ? 'attach' : opts.provider,
      attachUrl: opts.attach,
      failOn: opts.failOn,
      seed: opts.seed,
      hostNetworkReason: sealing.hostReason,
      signal: intr.signal,
      onStep: (s) => progress.step(s),
      onProgress: (d, t, l) => progress.tests(d, t, l),
    });
    progress.close();
    const evidence = artifacts.evidence ?? runJson;
    const signer = artifacts.evidence ? evidenceSigner(artifacts.evidence) : undefined;
    if (opts.json) {
      const summary = {
        verdict: result.verdict,
        out: outDir,
        evidence,
        signer,
        runJson,
        network: result.network,
        findings: result.findings.map((f) => ({ id: f.id, check: f.check, severity: f.severity })),
        unconfirmed: (result.unconfirmed ?? []).map((f) => ({ id: f.id, check: f.check, severity: f.severity, unconfirmed: f.unconfirmed })),
        inconclusive: result.checks.filter((c) => c.inconclusive?.cases).map((c) => ({ check: c.name, ...c.inconclusive })),
        measurements: result.measurements,
        durationMs: result.durationMs,
        reasons: result.reasons,
      };
      process.stdout.write(JSON.stringify(summary) + '\n');
    } else {
      printSummary(result, evidence, signer);
    }
    process.exitCode = VERDICT_EXIT[result.verdict];
  } catch (err) {
    progress.close();
    if (!endedByInterrupt(intr, err)) throw err;
  }
}

/**
 * For a command's catch: when an interrupt ended it, says so in one line and
 * sets the exit code (130/143), and returns true; otherwise false, and the
 * caller rethrows.
 */
export function endedByInterrupt(intr: Interrupts, err: unknown): boolean {
  const sig = intr.received();
  if (!sig && !(err instanceof BreakwaterError && err.code === 'BW_INTERRUPTED')) return false;
  process.stderr.write('breakwater: interrupted; the stack was stopped and nothing was left behind\n');
  process.exitCode = INTERRUPT_EXIT[sig ?? 'SIGINT'];
  return true;
}
