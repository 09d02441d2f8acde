import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Tier } from '../config/config.ts';
import type { ResolvedConfig } from '../config/load-config.ts';
import type { Severity } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { Redactor } from '../safety/redact.ts';
import { observeNetwork } from '../safety/sealed-network.ts';
import { discoverTools } from '../stack/tools.ts';
import type { ProviderName, StartedStack } from '../stack/types.ts';
import type { ProvidedRun } from '../suite/provided.ts';
import { writeArtifacts } from './artifacts.ts';
import { planNetwork } from './network-plan.ts';
import { startRunStack } from './run-stack.ts';
import { emptySuiteResults, runSuitesInHost, type SuiteResults } from './suite-host.ts';
import { SEVERITY_RANK, type CheckResult, type RunResult, type Verdict } from './result.ts';
import { checkScenarioFits, runScenario, type ScenarioOutcome } from './scenario-runner.ts';
import { loadScenarios, type LoadedScenario } from '../config/load-scenarios.ts';
import type { Credentials } from '../config/target.ts';
import { loadDrills, type LoadedDrill } from '../drills/load-drills.ts';
import { runDrill } from '../drills/run-drill.ts';
import type { DrillOutcome } from '../drills/types.ts';
import { credentialSecrets } from '../suite/http-auth.ts';

export interface RunOptions {
  config: ResolvedConfig;
  tier: Tier;
  /** Output dir for this run; default `<config.out>/<run-id>`. */
  out?: string;
  /** Only suite files whose path contains one of these strings. */
  suiteFilters?: string[];
  /** Only these chaos scenarios of the tier. */
  scenarios?: string[];
  /** Only these drills of the tier. */
  drills?: string[];
  provider?: ProviderName;
  attachUrl?: string;
  /** Findings at or above this severity block (exit 1). Default high. */
  failOn?: Severity;
  /** Fixed fast-check seed; default random (nightly) or derived from the commit (PR). */
  seed?: number;
  /** Re-run exactly one recorded counterexample (see `breakwater replay`). */
  replay?: ProvidedRun['replay'];
  /** Flaw switches for the stack (default: TARGET_FLAWS from the environment). */
  flaws?: string[];
  /** Why a local run is on the host network (the CLI could not seal it, or was told not to); recorded in the result. */
  hostNetworkReason?: string;
  signal?: AbortSignal;
  onStep?: (step: string) => void;
  onProgress?: (done: number, total: number, last: string) => void;
}

/** BREAKWATER_RUN_ID when set (CI shards and tests name their runs), else `<prefix>-<time>-<random>`. */
export function newRunId(prefix: string): string {
  // CI shards and tests may name the run; it must stay a safe file name.
  const given = process.env.BREAKWATER_RUN_ID;
  if (given) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$/.test(given)) throw new BreakwaterError('BW_USAGE', `BREAKWATER_RUN_ID "${given}" must be letters, digits, "_", "." or "-" (at most 81)`);
    return given;
  }
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace(/\..+/, '');
  return `${prefix}-${ts}-${randomBytes(3).toString('hex')}`;
}

function interrupted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new BreakwaterError('BW_INTERRUPTED', 'interrupted; the stack was stopped and nothing was left behind');
}

/** The commit under test, or undefined outside a git checkout. */
export function gitCommit(dir: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The PR tier's fast-check seed is fixed per commit (a re-run of the same
 * commit generates the same inputs) and rotates with every commit; the other
 * tiers draw a random seed. Every seed is recorded in the run result.
 */
export function defaultSeed(tier: Tier, dir: string): number {
  const commit = tier === 'pr' ? gitCommit(dir) : undefined;
  if (!commit) return randomInt(0, 2 ** 31 - 1);
  return Number.parseInt(createHash('sha256').update(commit).digest('hex').slice(0, 8), 16) & 0x7fffffff;
}

/** Writes JSON atomically: a reader never sees half a file. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

/**
 * Runs one tier end to end: start the stack, seed the world, run the tier's
 * suites through vitest, stop the stack, and write `<out>/run.json`. Returns
 * the run result; throws BreakwaterError for usage and infrastructure errors.
 * On abort, everything started is stopped and no report is written.
 */
export async function runTier(opts: RunOptions): Promise<{ result: RunResult; outDir: string; runJson: string; artifacts: Record<string, string> }> {
  const { config, tier } = opts;
  const runId = newRunId(tier);
  const outDir = resolve(opts.out ?? join(config.out, runId));
  const startedAt = new Date();
  const plan = config.tiers[tier];
  const fcSeed = opts.seed ?? defaultSeed(tier, config.rootDir);
  const known = plan.scenarios ?? [];
  for (const name of opts.scenarios ?? []) {
    if (!known.includes(name)) {
      throw new BreakwaterError('BW_USAGE', `no scenario "${name}" in the ${tier} tier (${known.length ? `scenarios: ${known.join(', ')}` : 'it has none'}); list it under tiers.${tier}.scenarios in the config`);
    }
  }
  const knownDrills = plan.drills ?? [];
  for (const name of opts.drills ?? []) {
    if (!knownDrills.includes(name)) {
      throw new BreakwaterError('BW_USAGE', `no drill "${name}" in the ${tier} tier (${knownDrills.length ? `drills: ${knownDrills.join(', ')}` : 'it has none'}); list it under tiers.${tier}.drills in the config`);
    }
  }
  // `--suite`, `--scenario` and `--drill` select: with any of them, only what they select runs; with none, the whole tier.
  const selecting = !!(opts.suiteFilters?.length || opts.scenarios?.length || opts.drills?.length);
  const scenarioNames = selecting ? (opts.scenarios ?? []) : known;
  const drillNames = selecting ? (opts.drills ?? []) : knownDrills;
  const runSuiteFiles = !selecting || !!opts.suiteFilters?.length;
  const drills = drillNames.length ? await loadDrills(config) : new Map<string, LoadedDrill>();
  for (const name of drillNames) {
    if (!drills.has(name)) {
      throw new BreakwaterError('BW_CONFIG_INVALID', `tier ${tier} lists drill "${name}", but no file in ${config.drillDir} defines it (defined: ${[...drills.keys()].join(', ') || 'none'})`);
    }
  }
  const scenarios = scenarioNames.length ? await loadScenarios(config) : new Map<string, LoadedScenario>();
  for (const name of scenarioNames) {
    if (!scenarios.has(name)) {
      throw new BreakwaterError('BW_CONFIG_INVALID', `tier ${tier} lists scenario "${name}", but no file in ${config.scenarioDir} defines it (defined: ${[...scenarios.keys()].join(', ') || 'none'})`);
    }
  }
  mkdirSync(outDir, { recursive: true });
  const toolsP = discoverTools();
  const provider: ProviderName = opts.provider ?? (opts.attachUrl ? 'attach' : config.provider);
  const network = planNetwork({ provider, observed: observeNetwork(), tier, ssrf: config.target.ssrf, hostReason: opts.hostNetworkReason });
  if (network.mode === 'host' && config.target.egress?.length) {
    opts.onStep?.(`network not sealed (${network.reason}): SSRF cases naming non-loopback addresses are ${network.offHostTargets === 'allowed' ? 'sent, as the profile allows for this tier' : 'skipped'}`);
  }

  interrupted(opts.signal);
  const { stack, egress, env: stackEnv } = await startRunStack(config, { provider: opts.provider, attachUrl: opts.attachUrl, runId, outDir, flaws: opts.flaws, onStep: opts.onStep, signal: opts.signal });
  const redactor = new Redactor([...Object.values(stack.secrets), ...(config.target.secrets?.values ?? []), ...(config.target.secrets?.pii ?? [])]);
  // What was started, where: for debugging a run and for checking that teardown left nothing behind.
  writeJsonAtomic(join(outDir, 'stack.json'), stack.info);
  let collector: SuiteResults = emptySuiteResults();
  const outcomes: ScenarioOutcome[] = [];
  const drillOutcomes: DrillOutcome[] = [];
  const skipped: CheckResult[] = [];
  let stopped: Awaited<ReturnType<StartedStack['stop']>> | undefined;
  try {
    interrupted(opts.signal);
    opts.onStep?.('seeding the target');
    let world: unknown;
    try {
      world = await config.target.seed({ baseUrl: stack.info.baseUrl, runId, secret: (v) => redactor.add(v) });
    } catch (err) {
      // One profile error, not a failed check per suite: nothing after this could judge anything.
      throw new BreakwaterError('BW_PROFILE_INVALID', `profile ${config.target.name}: seed() failed: ${redactor.redact(oneLine(err))}; fix the profile's seed (or see why the service refused it in ${stack.info.logDir ?? 'the target logs'})`, { cause: err });
    }
    const creds = new Map<string, Promise<Credentials>>();
    const login = (p: string): Promise<Credentials> => {
      let c = creds.get(p);
      if (!c) {
        const def = config.target.principals[p];
        if (!def) return Promise.reject(new BreakwaterError('BW_PROFILE_INVALID', `no principal "${p}" in the profile`));
        c = def.login({ baseUrl: stack.info.baseUrl, world, runId }).then((cred) => {
          for (const v of credentialSecrets(cred)) redactor.add(v);
          return cred;
        });
        creds.set(p, c);
      }
      return c;
    };
    // Every principal logs in once before any check: a login that fails is one profile error, not N failed checks.
    for (const name of Object.keys(config.target.principals)) {
      try {
        await login(name);
      } catch (err) {
        throw new BreakwaterError('BW_PROFILE_INVALID', `profile ${config.target.name}: principals.${name}.login() failed: ${redactor.redact(oneLine(err))}; fix the principal's login (or see why the service refused it in ${stack.info.logDir ?? 'the target logs'})`, { cause: err });
      }
    }
    // Drills log in again when they need to: credentials from before the suites may have expired by then.
    creds.clear();
    interrupted(opts.signal);
    opts.onStep?.(`running the ${tier} suites`);
    const provided: ProvidedRun = {
      configPath: config.configPath,
      runId,
      tier,
      outDir,
      numRuns: plan.numRuns ?? 25,
      fcSeed,
      stack: stack.info,
      world,
      secrets: redactor.values(),
      stackSecrets: { ...stack.secrets },
      egress: egress && { canaryOrigin: egress.canaryOrigin, allowedOrigin: egress.allowedOrigin },
      network,
      replay: opts.replay,
    };
    if (runSuiteFiles) {
      // On interrupt, the stack goes down at once: in-flight checks then fail fast instead of waiting out their timeouts.
      const stopOnAbort = () => void stack.stop();
      opts.signal?.addEventListener('abort', stopOnAbort, { once: true });
      try {
        collector = await runSuitesInHost({ rootDir: config.rootDir, include: plan.suites, filters: opts.suiteFilters ?? [], provided }, { signal: opts.signal, onProgress: opts.onProgress });
      } finally {
        opts.signal?.removeEventListener('abort', stopOnAbort);
      }
    }
    interrupted(opts.signal);
    // Scenarios roll their faults back on an interrupt first; the stack follows after a short grace period
    // (a restart waiting for health must not hold Ctrl-C hostage).
    let grace: NodeJS.Timeout | undefined;
    const stopLater = () => {
      grace = setTimeout(() => void stack.stop(), 3000);
    };
    opts.signal?.addEventListener('abort', stopLater, { once: true });
    try {
      for (const [i, name] of scenarioNames.entries()) {
        interrupted(opts.signal);
        const { scenario, source } = scenarios.get(name)!;
        const why = checkScenarioFits(scenario, config, stack);
        if (why) {
          skipped.push({ name: `chaos > ${name}`, suite: source, state: 'skipped', durationMs: 0, error: why, findings: 0 });
          continue;
        }
        opts.onStep?.(`scenario ${name} (${i + 1}/${scenarioNames.length})`);
        outcomes.push(await runScenario({ scenario, source, config, stack, world, runId, outDir, redactor, signal: opts.signal, onStep: opts.onStep }));
      }
      for (const [i, name] of drillNames.entries()) {
        interrupted(opts.signal);
        opts.onStep?.(`drill ${name} (${i + 1}/${drillNames.length})`);
        drillOutcomes.push(await runDrill(drills.get(name)!, { config, stack, world, runId, runOutDir: outDir, redactor, signal: opts.signal, onStep: opts.onStep, login }));
      }
    } finally {
      opts.signal?.removeEventListener('abort', stopLater);
    }
    interrupted(opts.signal);
    clearTimeout(grace);
  } catch (err) {
    stopped = await stack.stop();
    await egress?.close();
    throw err;
  }
  if (!stopped) {
    opts.onStep?.('stopping the stack');
    stopped = await stack.stop();
  }
  await egress?.close();
  for (const s of collector.secrets) redactor.add(s);
  redactLogs(stack.info.logDir, redactor);

  const findings = [...collector.findings, ...outcomes.flatMap((o) => o.findings), ...drillOutcomes.flatMap((o) => o.findings)];
  const checks = [...collector.checks, ...outcomes.map((o) => o.check), ...drillOutcomes.map((o) => o.check), ...skipped];
  const failOn = SEVERITY_RANK[opts.failOn ?? 'high'];
  const reasons: string[] = [];
  const blocking = findings.filter((f) => SEVERITY_RANK[f.severity] >= failOn);
  for (const f of blocking) reasons.push(`${f.severity} finding ${f.id}: ${f.title}`);
  const errored = checks.filter((c) => c.state === 'failed' && c.findings === 0);
  for (const c of errored) reasons.push(`check failed without a finding: ${c.name}: ${c.error}`);
  for (const e of collector.errors) reasons.push(`suite error: ${e}`);
  for (const i of stopped.incidents) reasons.push(`service ${i.service} died during the run (exit ${i.code ?? i.signal})`);
  if (checks.length === 0 && collector.errors.length === 0) reasons.push(`tier ${tier} ran no checks`);
  // A blocking finding decides: a crash that a suite reported (e.g. a frame that kills the process) blocks,
  // even though the dead service also failed later checks. Without one, any incident or errored check is an error.
  const verdict: Verdict = blocking.length
    ? 'blocked'
    : stopped.incidents.length || errored.length || collector.errors.length || checks.length === 0
      ? 'error'
      : 'pass';

  const tools = Object.fromEntries((await toolsP).filter((t) => t.found && t.version).map((t) => [t.name, t.version!]));
  const finishedAt = new Date();
  const result: RunResult = redactor.redactDeep({
    schemaVersion: 1,
    runId,
    tier,
    verdict,
    reasons,
    target: { name: config.target.name, provider: stack.info.provider, baseUrl: stack.info.baseUrl, flaws: (stackEnv.TARGET_FLAWS ?? '').split(',').filter(Boolean) },
    network,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    tools,
    seeds: { fastCheck: fcSeed },
    checks,
    findings,
    ...(collector.unconfirmed?.length ? { unconfirmed: collector.unconfirmed } : {}),
    ...(collector.matrix.length ? { matrix: collector.matrix } : {}),
    measurements: [...outcomes.flatMap((o) => o.measurements), ...drillOutcomes.flatMap((o) => o.measurements)],
    ...(outcomes.length ? { scenarios: outcomes.map((o) => o.journal) } : {}),
    ...(drillOutcomes.length ? { drills: drillOutcomes.map((o) => o.record) } : {}),
    incidents: stopped.incidents,
    teardownErrors: stopped.teardownErrors,
  } satisfies RunResult);
  const runJson = join(outDir, 'run.json');
  writeJsonAtomic(runJson, result);
  const artifacts = await writeArtifacts({ result, outDir, runJson, config, redactor });
  if (artifacts.errors.length) {
    throw new BreakwaterError('BW_STACK_FAULT', `the run finished but writing its artifacts failed (${artifacts.errors.join('; ')}); run.json is at ${runJson}`);
  }
  return { result, outDir, runJson, artifacts: artifacts.paths };
}

/** Captured service logs are artifacts too: rewrite them with every secret of the run redacted. */
function redactLogs(dir: string | undefined, redactor: Redactor): void {
  if (!dir || !existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    const path = join(dir, f);
    const text = readFileSync(path, 'utf8');
    const clean = redactor.redact(text);
    if (clean !== text) writeFileSync(path, clean);
  }
}
