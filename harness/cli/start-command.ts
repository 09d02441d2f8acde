import pc from 'picocolors';
import { discoverTools } from '../stack/tools.ts';
import { runCommand, type Interrupts } from './run-command.ts';
import { setupCommand } from './setup-command.ts';

/** `npm start`: set up what is missing, then run the PR tier against the reference stack. */
export async function startCommand(opts: { config: string; out?: string }, intr: Interrupts): Promise<void> {
  const missing = (await discoverTools()).filter((t) => t.required && !t.found);
  if (missing.length) {
    process.stderr.write(`${pc.cyan('›')} installing ${missing.map((t) => t.name).join(', ')} (one time)\n`);
    await setupCommand();
  }
  await runCommand({ config: opts.config, tier: 'pr', out: opts.out, failOn: 'high' }, intr);
}
