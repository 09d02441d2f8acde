import { spawnSync } from 'node:child_process';
import pc from 'picocolors';
import { BreakwaterError } from '../errors.ts';
import { observeNetwork, runSealed, sealLauncher } from '../safety/sealed-network.ts';
import type { ProviderName } from '../stack/types.ts';

export type NetworkChoice = 'sealed' | 'host';

/** What the CLI does about the network before a local run: it ran the command sealed (with this exit code), or the run goes on here. */
export type SealOutcome = { ranSealed: true; exitCode: number } | { ranSealed: false; hostReason?: string };

/** Makes sure loopback is up in a namespace that has nothing else (e.g. one made with a bare `unshare -n`). */
function ensureLoopbackUp(): void {
  if (observeNetwork().loopbackUp) return;
  const r = spawnSync('ip', ['link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
  if (r.status !== 0) {
    throw new BreakwaterError('BW_STACK_START_FAILED', `this network namespace has loopback down and it could not be brought up (${r.stderr?.toString().trim() || r.error?.message || `exit ${r.status}`}); run \`ip link set lo up\` in it first`);
  }
}

/**
 * A local stack runs sealed by default: when this process is on the host
 * network, the same command is re-run inside a new loopback-only namespace
 * (see harness/safety/sealed-network.ts) and its exit code is returned.
 * Where no namespace can be made, or `--network host` was given, the run goes
 * on here and says so in one line; the SSRF suite then never sends a case
 * that names a non-loopback address unless the profile opts in.
 */
export async function sealLocalRun(provider: ProviderName, choice: NetworkChoice | undefined): Promise<SealOutcome> {
  if (provider !== 'local') return { ranSealed: false };
  const observed = observeNetwork();
  if (observed.mode === 'sealed') {
    ensureLoopbackUp();
    return { ranSealed: false };
  }
  if (choice === 'host') return { ranSealed: false, hostReason: '--network host was given' };
  const launcher = sealLauncher();
  if (!launcher.ok) {
    process.stderr.write(`${pc.yellow('breakwater:')} the network is not sealed: ${launcher.reason}; SSRF cases that name non-loopback addresses are skipped, not sent\n`);
    return { ranSealed: false, hostReason: launcher.reason };
  }
  const exitCode = await runSealed(launcher, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { tellParent: true });
  return { ranSealed: true, exitCode };
}
