import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import gatePolicy from '../../gate.policy.ts';
import { which } from '../../harness/stack/tools.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const WORKFLOWS = join(ROOT, '.github/workflows');
const SECRET = 'BREAKWATER_SIGNING_KEY';
const KEY_FILE = 'breakwater-signing-key.pem';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, unknown>;
  with?: Record<string, unknown>;
  'continue-on-error'?: unknown;
}
type MatrixEntry = Record<string, string | number>;
interface Job {
  needs?: string | string[];
  if?: string;
  permissions?: unknown;
  'timeout-minutes'?: unknown;
  strategy?: { matrix?: { include?: MatrixEntry[] } };
  env?: Record<string, unknown>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: unknown;
  concurrency?: unknown;
  jobs: Record<string, Job>;
}

const text = (name: string) => readFileSync(join(WORKFLOWS, `${name}.yml`), 'utf8');
const load = (name: string) => parseYaml(text(name)) as Workflow;

/** What the nightly shards must cover: the nightly tier's suite files and scenarios, and the tiers the nightly gate requires. */
interface NightlyPlan {
  suiteFiles: string[];
  scenarios: string[];
  gateTiers: string[];
}

function globRegExp(glob: string): RegExp {
  const body = glob
    .split('**/')
    .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
    .join('(?:.*/)?');
  return new RegExp(`^${body}$`);
}

function nightlyPlan(): NightlyPlan {
  const tier = config.tiers!.nightly!;
  const patterns = tier.suites.map(globRegExp);
  const suiteFiles = (readdirSync(join(ROOT, 'suites'), { recursive: true }) as string[])
    .map((f) => `suites/${f.split('\\').join('/')}`)
    .filter((f) => patterns.some((p) => p.test(f)))
    .sort();
  return { suiteFiles, scenarios: [...(tier.scenarios ?? [])], gateTiers: [...gatePolicy.stages.nightly!.tiers] };
}

const steps = (wf: Workflow) => Object.entries(wf.jobs).flatMap(([job, j]) => (j.steps ?? []).map((s) => ({ job, step: s })));
const label = (s: Step) => s.name ?? s.id ?? s.uses ?? (s.run ?? '').split('\n')[0];
const runsAfterFailure = (s: Step) => /!cancelled\(\)|always\(\)/.test(s.if ?? '');
const secretIn = (s: Step) => Object.values(s.env ?? {}).some((v) => String(v).includes('secrets.'));
const cliSteps = (j: Job, command: string) => j.steps.filter((s) => new RegExp(`npx breakwater ${command}\\b`).test(s.run ?? ''));

/** The tiers a job's `npx breakwater run` steps run: a literal `--tier X`, or `--tier "$TIER"` fed from the matrix. */
function tiersRun(j: Job): string[] {
  return cliSteps(j, 'run').flatMap((s) => {
    const literal = /--tier (pr|nightly|drill)\b/.exec(s.run!);
    if (literal) return [literal[1]!];
    if (/--tier "\$TIER"/.test(s.run!) && /matrix\.tier/.test(String(s.env?.TIER))) return (j.strategy?.matrix?.include ?? []).map((e) => String(e.tier));
    return [];
  });
}

/** Problems every workflow must not have: permissions, concurrency, timeouts, pinning and the signing key's handling. */
function commonProblems(wf: Workflow): string[] {
  const out: string[] = [];
  if (JSON.stringify(wf.permissions) !== '{}') out.push('top-level permissions must be {} (each job asks for what it needs)');
  const group = (wf.concurrency as { group?: string } | undefined)?.group;
  if (!group) out.push('no top-level concurrency group');
  for (const [name, j] of Object.entries(wf.jobs)) {
    const t = j['timeout-minutes'];
    if (typeof t !== 'number' || t < 1 || t > 120) out.push(`job ${name}: timeout-minutes must be a number from 1 to 120 (got ${String(t)})`);
    if (!j.permissions || typeof j.permissions !== 'object') out.push(`job ${name}: no explicit permissions`);
    const sarif = j.steps.some((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'));
    for (const [scope, level] of Object.entries((j.permissions ?? {}) as Record<string, string>)) {
      if (level === 'write' && !(scope === 'security-events' && sarif)) out.push(`job ${name}: ${scope}: write is more than it needs`);
    }
    const writesKey = j.steps.findIndex(secretIn);
    if (writesKey >= 0 && !j.steps.slice(writesKey + 1).some((s) => /always\(\)/.test(s.if ?? '') && (s.run ?? '').includes(`rm -f "$RUNNER_TEMP/${KEY_FILE}"`))) {
      out.push(`job ${name}: the signing key file is not removed by a later step with if: always()`);
    }
  }
  for (const { job, step } of steps(wf)) {
    if (step.uses && !/^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/.test(step.uses)) out.push(`${job}/${label(step)}: ${step.uses} is not pinned to a version tag or a commit SHA`);
    const script = step.run ?? '';
    if (/secrets\./.test(script)) out.push(`${job}/${label(step)}: a secret is expanded into the script text; pass it through env`);
    if (/\bset\s+-[a-z]*x/.test(script)) out.push(`${job}/${label(step)}: set -x would print the signing key`);
    if (secretIn(step) && /\bnpx\b/.test(script)) out.push(`${job}/${label(step)}: a step with the signing key in its environment runs npx (the stack under test would inherit the key)`);
    for (const line of script.split('\n')) {
      if (!new RegExp(`\\$\\{?${SECRET}\\b`).test(line)) continue;
      const isTest = new RegExp(`\\[ -[zn] "\\$${SECRET}" \\]`).test(line);
      const toFile = new RegExp(`^\\s*printf '%s\\\\n' "\\$${SECRET}" > "\\$\\w+"\\s*$`).test(line);
      if (!isTest && !toFile) out.push(`${job}/${label(step)}: "${line.trim()}" could echo the signing key (only a test or printf into a file may expand it)`);
    }
  }
  // Over the parsed document, so comments do not count and the mutations below do.
  const secretRefs = [...JSON.stringify(wf).matchAll(/secrets\.(\w+)/g)].map((m) => m[1]);
  for (const name of new Set(secretRefs)) if (name !== SECRET) out.push(`unexpected secret ${name}`);
  const viaEnv = steps(wf).filter(({ step }) => secretIn(step)).length;
  if (secretRefs.length !== viaEnv) out.push(`${secretRefs.length} secret references but ${viaEnv} in a step's env: a secret is used outside a step's env`);
  if (viaEnv === 0) out.push(`the signing key never comes from secrets.${SECRET}`);
  return out;
}

function prProblems(wf: Workflow): string[] {
  const out: string[] = [];
  if (!('pull_request' in wf.on)) out.push('not triggered on pull_request');
  const job = Object.values(wf.jobs).find((j) => tiersRun(j).includes('pr'));
  if (!job) return [...out, 'no job runs `npx breakwater run --tier pr`'];
  const runStep = cliSteps(job, 'run')[0]!;
  const dir = /--out (\S+)/.exec(runStep.run!)?.[1] ?? '(no --out)';
  const gate = cliSteps(job, 'gate').find((s) => /--stage pr\b/.test(s.run!));
  if (!gate) out.push('no `breakwater gate --stage pr` step');
  else {
    if (!gate.run!.includes(`--evidence ${dir}/evidence.dsse.json`)) out.push(`the gate does not read the run's evidence ${dir}/evidence.dsse.json`);
    if (!/--key "?\$TRUSTED_KEY"?/.test(gate.run!) || !/--commit/.test(gate.run!)) out.push('the gate must pin the trusted key and the commit');
  }
  for (const s of [runStep, gate ?? {}]) if (s['continue-on-error'] !== undefined) out.push(`${label(s)}: continue-on-error would let the job pass when the gate blocks`);
  const sarif = job.steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'));
  if (!sarif || sarif.with?.sarif_file !== `${dir}/results.sarif` || !runsAfterFailure(sarif)) out.push(`no upload of ${dir}/results.sarif that runs when the gate blocks (if: !cancelled())`);
  const uploads = job.steps.filter((s) => s.uses?.startsWith('actions/upload-artifact@'));
  if (!uploads.some((s) => String(s.with?.path).trim() === `${dir}/junit.xml` && runsAfterFailure(s))) out.push(`no upload of ${dir}/junit.xml that runs when the gate blocks`);
  if (!uploads.some((s) => String(s.with?.path).trim().replace(/\/$/, '') === dir && runsAfterFailure(s))) out.push(`no upload of the run directory ${dir} that runs when the gate blocks`);
  if (!job.steps.some((s) => runsAfterFailure(s) && (s.run ?? '').includes(`${dir}/summary.md`) && (s.run ?? '').includes('GITHUB_STEP_SUMMARY'))) out.push('summary.md is not appended to $GITHUB_STEP_SUMMARY');
  return out;
}

/** The `${{ matrix.part }}` template of an artifact name, filled in. */
const fill = (template: string, entry: MatrixEntry) => template.replace(/\$\{\{\s*matrix\.(\w+)\s*\}\}/g, (_, k: string) => String(entry[k]));
const globMatch = (pattern: string, name: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(name);

function nightlyProblems(wf: Workflow, plan: NightlyPlan): string[] {
  const out: string[] = [];
  const crons = (wf.on.schedule as { cron: string }[] | undefined) ?? [];
  if (crons.length === 0 || !('workflow_dispatch' in wf.on)) out.push('needs a schedule and workflow_dispatch');
  const matrixName = Object.keys(wf.jobs).find((n) => wf.jobs[n]!.strategy?.matrix?.include);
  if (!matrixName) return [...out, 'no job with a matrix'];
  const matrixJob = wf.jobs[matrixName]!;
  const entries = matrixJob.strategy!.matrix!.include!;
  const shards = entries.filter((e) => e.tier === 'nightly');
  const tiers = tiersRun(matrixJob);
  for (const t of plan.gateTiers) if (!tiers.includes(t)) out.push(`the nightly gate needs ${t} evidence, but no matrix entry runs the ${t} tier`);
  if (shards.length < 2) out.push(`${shards.length} nightly shard(s); sharding needs at least 2`);
  const words = (v: unknown) => String(v ?? '').split(/\s+/).filter(Boolean);
  for (const s of shards) if (!words(s.suites).length && !words(s.scenarios).length) out.push(`${s.part} names no suite and no scenario, so it would run the whole tier`);
  for (const file of plan.suiteFiles) {
    const by = shards.filter((s) => words(s.suites).some((f) => file.includes(f))).map((s) => s.part);
    if (by.length !== 1) out.push(`suite ${file} is run by ${by.length} shards (${by.join(', ') || 'none'}); it must be run by exactly one`);
  }
  for (const sc of plan.scenarios) {
    const by = shards.filter((s) => words(s.scenarios).includes(sc)).map((s) => s.part);
    if (by.length !== 1) out.push(`scenario ${sc} is run by ${by.length} shards (${by.join(', ') || 'none'}); it must be run by exactly one`);
  }
  for (const s of shards) for (const sc of words(s.scenarios)) if (!plan.scenarios.includes(sc)) out.push(`${s.part} names scenario ${sc}, which is not in tiers.nightly.scenarios`);
  const runStep = cliSteps(matrixJob, 'run')[0];
  if (!/matrix\.part/.test(String(runStep?.env?.BREAKWATER_RUN_ID))) out.push('BREAKWATER_RUN_ID must differ per matrix entry (merge refuses the same run twice)');
  const upload = matrixJob.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@') && runsAfterFailure(s));
  if (!upload) out.push('the shards upload no artifact when they block');

  const mergeName = Object.keys(wf.jobs).find((n) => cliSteps(wf.jobs[n]!, 'merge').length > 0);
  if (!mergeName) return [...out, 'no job runs `npx breakwater merge`'];
  const merge = wf.jobs[mergeName]!;
  if (![merge.needs].flat().includes(matrixName)) out.push(`${mergeName} does not need ${matrixName}`);
  if (!/!cancelled\(\)|always\(\)/.test(merge.if ?? '')) out.push(`${mergeName} must run after a failed shard too (if: !cancelled())`);
  if (Number(merge.env?.SHARDS) !== shards.length) out.push(`${mergeName} expects SHARDS=${String(merge.env?.SHARDS)} but the matrix has ${shards.length} nightly shards`);
  const mergeStep = cliSteps(merge, 'merge')[0]!;
  if (!/--sign-key "\$KEY_FILE"/.test(mergeStep.run!) || !merge.steps.some(secretIn)) out.push('the merge is not signed with the key from secrets');
  if (!/--key "?\$TRUSTED_KEY"?/.test(mergeStep.run!)) out.push('the merge does not verify the shards with the trusted key');
  const download = merge.steps.find((s) => s.uses?.startsWith('actions/download-artifact@') && s.with?.pattern);
  const name = String(upload?.with?.name ?? '');
  if (!download) out.push('no download of the shard artifacts by pattern');
  else {
    const pattern = String(download.with!.pattern);
    for (const e of entries) {
      if (globMatch(pattern, fill(name, e)) !== (e.tier === 'nightly')) out.push(`download pattern ${pattern} ${e.tier === 'nightly' ? 'misses' : 'also takes'} artifact ${fill(name, e)}`);
    }
  }
  const gateIdx = merge.steps.findIndex((s) => /npx breakwater gate --stage nightly\b/.test(s.run ?? ''));
  const history = gateIdx >= 0 ? /--history (\S+)/.exec(merge.steps[gateIdx]!.run!)?.[1] : undefined;
  if (!history) return [...out, 'no `gate --stage nightly --history DIR` step'];
  const restoreIdx = merge.steps.findIndex((s) => s.uses?.startsWith('actions/cache/restore@') && s.with?.path === history);
  const saveIdx = merge.steps.findIndex((s) => s.uses?.startsWith('actions/cache/save@') && s.with?.path === history);
  const prefix = String(merge.steps[restoreIdx]?.with?.['restore-keys'] ?? '(none)');
  if (restoreIdx < 0 || restoreIdx > gateIdx) out.push(`the history ${history} is not restored before the gate`);
  if (saveIdx < gateIdx || !runsAfterFailure(merge.steps[saveIdx]!) || !String(merge.steps[saveIdx]!.with?.key).startsWith(prefix)) {
    out.push(`the history ${history} is not saved after the gate, also when it blocks, under the prefix it is restored from`);
  }
  return out;
}

function drillProblems(wf: Workflow): string[] {
  const out: string[] = [];
  const crons = ((wf.on.schedule as { cron: string }[] | undefined) ?? []).map((c) => c.cron.trim().split(/\s+/));
  if (!crons.some((f) => f.length === 5 && /^([1-9]|1\d|2[0-8])$/.test(f[2]!) && f[3] === '*' && f[4] === '*')) out.push('no monthly cron (a fixed day of month 1-28, every month, any weekday)');
  const dispatch = wf.on.workflow_dispatch as { inputs?: Record<string, unknown> } | undefined;
  if (!dispatch?.inputs?.drill) out.push('workflow_dispatch has no `drill` input');
  const job = Object.values(wf.jobs).find((j) => tiersRun(j).includes('drill'));
  if (!job) return [...out, 'no job runs `npx breakwater run --tier drill`'];
  const runStep = cliSteps(job, 'run')[0]!;
  if (!/--drill\b/.test(runStep.run!) || !Object.values(runStep.env ?? {}).some((v) => /inputs\.drill\b/.test(String(v)))) out.push('the run does not pass the `drill` input as --drill');
  const gate = steps(wf).find(({ step }) => /npx breakwater gate --stage release\b/.test(step.run ?? ''));
  if (!gate || !/inputs\.release-gate/.test(gate.step.if ?? '')) out.push('no release gate guarded by the `release-gate` input');
  return out;
}

const plan = nightlyPlan();
const problems: Record<string, (wf: Workflow) => string[]> = {
  pr: (wf) => [...commonProblems(wf), ...prProblems(wf)],
  nightly: (wf) => [...commonProblems(wf), ...nightlyProblems(wf, plan)],
  drill: (wf) => [...commonProblems(wf), ...drillProblems(wf)],
};

describe('CI workflows: structure', () => {
  test('the nightly plan the shards are checked against is not empty', () => {
    expect(plan.suiteFiles.length).toBeGreaterThan(0);
    expect(plan.scenarios.length).toBeGreaterThan(0);
    expect(plan.gateTiers).toContain('nightly');
  });

  test.each(['pr', 'nightly', 'drill'])('%s.yml has none of the problems the checks look for', (name) => {
    expect(problems[name]!(load(name))).toEqual([]);
  });

  type Mutation = [file: string, what: string, mutate: (wf: Workflow) => void, expected: RegExp];
  const job = (wf: Workflow, name: string) => wf.jobs[name]!;
  const step = (wf: Workflow, jobName: string, match: RegExp) => job(wf, jobName).steps.find((s) => match.test(label(s)))!;
  const mutations: Mutation[] = [
    ['pr', 'the gate may fail without failing the job', (wf) => void (step(wf, 'pr-tier', /^Gate/)['continue-on-error'] = true), /continue-on-error/],
    ['pr', 'the SARIF upload is skipped when the gate blocks', (wf) => void delete step(wf, 'pr-tier', /SARIF/).if, /results\.sarif that runs when the gate blocks/],
    ['pr', 'JUnit is not uploaded', (wf) => void (job(wf, 'pr-tier').steps = job(wf, 'pr-tier').steps.filter((s) => s.name !== 'Upload JUnit')), /junit\.xml/],
    ['pr', 'the key is echoed', (wf) => void (step(wf, 'pr-tier', /^Signing key/).run += `echo "$${SECRET}"\n`), /could echo the signing key/],
    ['pr', 'the run step gets the key in its environment', (wf) => void (step(wf, 'pr-tier', /^Run/).env![SECRET] = `\${{ secrets.${SECRET} }}`), /runs npx/],
    ['pr', 'a secret is expanded into a script', (wf) => void (step(wf, 'pr-tier', /^Gate/).run += `test -n "\${{ secrets.${SECRET} }}"\n`), /expanded into the script text/],
    ['pr', 'an action follows a branch', (wf) => void (job(wf, 'pr-tier').steps[0]!.uses = 'actions/checkout@main'), /not pinned/],
    ['pr', 'a job has no timeout', (wf) => void delete job(wf, 'pr-tier')['timeout-minutes'], /timeout-minutes/],
    ['pr', 'contents: write', (wf) => void ((job(wf, 'pr-tier').permissions as Record<string, string>).contents = 'write'), /contents: write/],
    ['nightly', 'a scenario is in no shard', (wf) => void (job(wf, 'run').strategy!.matrix!.include![2]!.scenarios = 'postgres-pause'), /scenario storm is run by 0 shards/],
    ['nightly', 'a suite is in two shards', (wf) => void (job(wf, 'run').strategy!.matrix!.include![0]!.suites = 'authz smoke'), /suite suites\/smoke\/.* is run by 2 shards/],
    ['nightly', 'the PR tier is not run', (wf) => void job(wf, 'run').strategy!.matrix!.include!.pop(), /needs pr evidence/],
    ['nightly', 'the merge is unsigned', (wf) => void (step(wf, 'merge', /^Merge/).run = step(wf, 'merge', /^Merge/).run!.replace(/ --sign-key "\$KEY_FILE"/, '')), /not signed/],
    ['nightly', 'the merge expects another shard count', (wf) => void (job(wf, 'merge').env!.SHARDS = 2), /SHARDS=2/],
    ['nightly', 'the history is saved only on success', (wf) => void delete step(wf, 'merge', /^Save the flake history/).if, /not saved after the gate/],
    ['drill', 'the cron is weekly', (wf) => void ((wf.on.schedule as { cron: string }[])[0]!.cron = '43 5 * * 1'), /monthly/],
    ['drill', 'the drill input is ignored', (wf) => void delete step(wf, 'drill', /^Run/).env!.DRILLS, /--drill/],
  ];
  test.each(mutations)('%s.yml: the checks catch it when %s', (file, _what, mutate, expected) => {
    const wf = structuredClone(load(file));
    mutate(wf);
    expect(problems[file]!(wf).join('\n')).toMatch(expected);
  });
});

const ACTIONLINT_VERSION = /^ACTIONLINT_VERSION=(v\S+)/m.exec(readFileSync(join(ROOT, 'scripts/install-tools.sh'), 'utf8'))?.[1];
const actionlint = which('actionlint');
const skipReason = 'actionlint is not installed: run `BREAKWATER_DEV_TOOLS=1 npx breakwater setup` (.ci/run does); the actionlint tests are skipped';
if (!actionlint) console.warn(skipReason);

interface LintError {
  message: string;
  filepath: string;
  line: number;
  kind: string;
}

async function lint(files: string[]): Promise<{ code: number; errors: LintError[]; stderr: string }> {
  try {
    const { stdout, stderr } = await run(actionlint!, ['-no-color', '-format', '{{json .}}', ...files], { cwd: ROOT, timeout: 60_000 });
    return { code: 0, errors: JSON.parse(stdout) as LintError[], stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, errors: e.stdout ? (JSON.parse(e.stdout) as LintError[]) : [], stderr: e.stderr ?? String(err) };
  }
}

describe.skipIf(!actionlint)('CI workflows: actionlint', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bw-actionlint-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('the actionlint found is the version install-tools.sh pins', async () => {
    const { stdout } = await run(actionlint!, ['-version'], { timeout: 10_000 });
    expect(ACTIONLINT_VERSION).toMatch(/^v1\.7\.\d+$/);
    expect(stdout.split('\n')[0], `${actionlint} is not the pinned ${ACTIONLINT_VERSION}: run \`BREAKWATER_DEV_TOOLS=1 npx breakwater setup\``).toBe(ACTIONLINT_VERSION);
  });

  test('every workflow passes actionlint (and shellcheck on its scripts, where installed)', async () => {
    const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).map((f) => relative(ROOT, join(WORKFLOWS, f)));
    expect(files).toEqual(expect.arrayContaining(['.github/workflows/drill.yml', '.github/workflows/nightly.yml', '.github/workflows/pr.yml']));
    const r = await lint(files);
    expect(r.errors.map((e) => `${e.filepath}:${e.line} [${e.kind}] ${e.message}`)).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
  });

  test('a broken copy fails: a step id misspelt in an expression', async () => {
    const broken = text('pr').replace("steps.run.outcome != 'skipped'", "steps.rnu.outcome != 'skipped'");
    expect(broken).not.toBe(text('pr'));
    const file = join(tmp, 'pr.yml');
    writeFileSync(file, broken);
    const r = await lint([file]);
    expect(r.code).toBe(1);
    expect(r.errors).toEqual([expect.objectContaining({ kind: 'expression', message: expect.stringMatching(/property "rnu" is not defined/) })]);
  });
});
