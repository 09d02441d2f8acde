import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BreakwaterError } from '../errors.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/install-tools.sh', import.meta.url));

/** `breakwater setup`: runs scripts/install-tools.sh, which is idempotent. */
export async function setupCommand(): Promise<void> {
  const code = await new Promise<number>((resolve) => {
    const child = spawn('bash', [SCRIPT], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (c) => resolve(c ?? 1));
    child.once('error', () => resolve(127));
  });
  if (code !== 0) throw new BreakwaterError('BW_SETUP_FAILED', `setup failed (exit ${code}); read the [setup] lines above, fix the cause, and run \`npx breakwater setup\` again`);
}
