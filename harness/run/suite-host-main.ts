import { createVitest } from 'vitest/node';
import type { ProvidedRun } from '../suite/provided.ts';
import { CollectorReporter } from './collector.ts';
import type { SuiteHostJob, SuiteHostMessage } from './suite-host.ts';

/**
 * The suite host: a child process of `breakwater run` that runs vitest over
 * the tier's suite files and sends the collected results back over IPC. Vitest
 * and vite stay out of the harness's own process (their memory, their module
 * graph, their signal handlers), and the harness can always cut it off.
 */
const send = (m: SuiteHostMessage) => process.send?.(m);

async function run(job: SuiteHostJob): Promise<void> {
  const collector = new CollectorReporter(job.rootDir, (done, total, last) => send({ type: 'progress', done, total, last }));
  const vitest = await createVitest(
    'test',
    {
      config: false,
      root: job.rootDir,
      watch: false,
      include: job.include,
      reporters: [collector],
      provide: { breakwater: job.provided as ProvidedRun },
      pool: 'forks',
      // One suite file at a time: suites share the target's per-user budgets, caches and
      // principals, and a check perturbed by another suite's traffic would make the gate flaky.
      maxWorkers: 1,
      fileParallelism: false,
      testTimeout: 120_000,
      hookTimeout: 120_000,
      passWithNoTests: true,
      silent: true,
    } as never,
    { logLevel: 'silent', configFile: false } as never,
  );
  let cancelled = false;
  process.on('message', (m: { type?: string }) => {
    if (m?.type !== 'cancel' || cancelled) return;
    cancelled = true;
    void vitest.cancelCurrentRun('keyboard-input');
    // A check blocked on the dead stack gets a short grace period, then the pool is closed under it.
    setTimeout(() => void vitest.close().finally(() => process.exit(0)), 2000).unref();
  });
  try {
    await vitest.start(job.filters.length ? job.filters : undefined);
  } catch (err) {
    send({ type: 'failed', error: String((err as Error)?.message ?? err).split('\n')[0]! });
    await vitest.close();
    return;
  }
  await vitest.close();
  send({ type: 'done', results: { checks: collector.checks, findings: collector.findings, unconfirmed: collector.unconfirmed, matrix: collector.matrix, secrets: collector.secrets, errors: collector.errors } });
}

process.once('message', (m: { type?: string; job?: SuiteHostJob }) => {
  if (m?.type !== 'run' || !m.job) return;
  run(m.job)
    .catch((err) => send({ type: 'failed', error: String((err as Error)?.message ?? err).split('\n')[0]! }))
    .finally(() => process.disconnect?.());
});
