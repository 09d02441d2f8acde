import type { Tier } from '../config/config.ts';
import type { SsrfOptions } from '../config/target.ts';
import type { ObservedNetwork } from '../safety/sealed-network.ts';
import type { ProviderName } from '../stack/types.ts';
import type { NetworkRecord } from './result.ts';

/**
 * Decides what a run may send, from where its stack runs. Only a local stack
 * in the harness's own loopback-only namespace is sealed; attach and compose
 * targets run in networks the harness did not make. Off a sealed network, SSRF
 * cases naming non-loopback addresses are sent only when the profile opts in
 * for the tier.
 */
export function planNetwork(inp: { provider: ProviderName; observed: ObservedNetwork; tier: Tier; ssrf?: SsrfOptions; hostReason?: string }): NetworkRecord {
  if (inp.provider === 'local' && inp.observed.mode === 'sealed') return { mode: 'sealed', offHostTargets: 'sent' };
  const reason =
    inp.provider === 'attach'
      ? 'attach: the target runs in a network the harness did not make'
      : inp.provider === 'compose'
        ? "compose: the containers use the container engine's networks"
        : (inp.hostReason ?? `the harness runs on the host network (interfaces: ${inp.observed.interfaces.join(', ')}); the breakwater CLI seals local runs, or use \`breakwater sealed -- <command>\``);
  const choice = inp.ssrf?.offHostTargets;
  const optIn = typeof choice === 'string' ? choice : (choice?.[inp.tier] ?? 'skip');
  return { mode: 'host', offHostTargets: optIn === 'allow' ? 'allowed' : 'skipped', reason };
}
