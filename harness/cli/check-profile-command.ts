import pc from 'picocolors';
import { loadConfig } from '../config/load-config.ts';
import { BreakwaterError, EXIT } from '../errors.ts';
import { checkProfile } from '../run/check-profile.ts';
import { Progress } from './progress.ts';
import { endedByInterrupt, type Interrupts } from './run-command.ts';
import { sealLocalRun } from './sealed-run.ts';

/**
 * `breakwater check-profile`: a dry run of the profile on a fresh stack (see
 * checkProfile). Each mistake is one line naming its field, exit 2; a sound
 * profile prints what it exercised, exit 0. Never a finding.
 */
export async function checkProfileCommand(opts: { config: string }, intr: Interrupts): Promise<void> {
  const config = await loadConfig(opts.config);
  if (intr.signal.aborted) throw new BreakwaterError('BW_INTERRUPTED', 'interrupted before the check started');
  const sealing = await sealLocalRun(config.provider, undefined);
  if (sealing.ranSealed) {
    process.exitCode = sealing.exitCode;
    return;
  }
  const progress = new Progress(process.stderr, false);
  intr.onSignal((sig) => progress.step(`${sig} received: stopping the stack`));
  try {
    const { problems, passed, inconclusive } = await checkProfile(config, { onStep: (s) => progress.step(s), signal: intr.signal });
    progress.close();
    if (intr.received()) throw new BreakwaterError('BW_INTERRUPTED', 'interrupted');
    for (const p of problems) process.stderr.write(`${pc.red('breakwater:')} profile ${config.target.name}: ${p.field}: ${p.problem} [BW_PROFILE_INVALID]\n`);
    if (problems.length) {
      process.exitCode = EXIT.usage;
      return;
    }
    process.stdout.write(`${pc.green('profile ok')}: ${config.target.name}\n${[...passed.map((l) => `  ✓ ${l}`), ...inconclusive.map((l) => `  ? ${l}`)].join('\n')}\n`);
  } catch (err) {
    progress.close();
    if (!endedByInterrupt(intr, err)) throw err;
  }
}
