import { BreakwaterError } from '../errors.ts';
import { observeNetwork, runSealed, sealLauncher } from '../safety/sealed-network.ts';
import { spawn } from 'node:child_process';

/**
 * `breakwater sealed -- <command...>`: runs a command in a new network
 * namespace whose only interface is loopback, e.g. a test runner that starts
 * stacks in-process (`npm test` does). Already sealed: runs it here. No
 * namespace possible: fails in one line rather than run unsealed.
 */
export async function sealedCommand(command: string[]): Promise<void> {
  if (command.length === 0) throw new BreakwaterError('BW_USAGE', 'no command given; use `breakwater sealed -- <command> [args...]`');
  if (observeNetwork().mode === 'sealed') {
    process.exitCode = await new Promise<number>((resolve) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
      child.once('error', (err) => {
        process.stderr.write(`breakwater: could not start ${command[0]}: ${err.message}\n`);
        resolve(127);
      });
      child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 143)));
    });
    return;
  }
  const launcher = sealLauncher();
  if (!launcher.ok) throw new BreakwaterError('BW_SETUP_FAILED', `cannot seal the network for ${command[0]}: ${launcher.reason}`);
  process.exitCode = await runSealed(launcher, command);
}
