import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { spawnCli, type CliResult } from './cli.ts';
import type { ChildProcess } from 'node:child_process';

/**
 * A stand-in for a cloud CI runner, made of two network namespaces of our own:
 * `world`, where the harness runs, has loopback and a default route over a
 * veth pair into `trap`, which holds the addresses the SSRF suite names
 * (metadata, private, CGNAT) and answers them with a refusal. Every packet
 * that leaves `world` arrives at the trap's end of the veth and is counted;
 * nothing reaches the machine's own network. IPv6 is off in both, so no
 * neighbour or router discovery adds packets of its own.
 */
export interface TrapWorld {
  readonly world: string;
  /** Packets the trap has received from the world so far. */
  trapPackets(): number;
  /** `breakwater <args>` as a real process inside the world. */
  spawnCli(args: string[], env?: Record<string, string>): { child: ChildProcess; done: Promise<CliResult> };
  destroy(): void;
}

const TRAP_ADDRESSES = ['169.254.169.254', '100.64.0.1', '10.0.0.1', '192.168.0.1', '172.16.0.1'];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString();
const inNs = (ns: string, script: string) => execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });

/** Whether this process may make namespaces (root, iproute2). */
export function canMakeTrapWorld(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    ip('-V');
    return true;
  } catch {
    return false;
  }
}

export function createTrapWorld(): TrapWorld {
  const id = randomBytes(3).toString('hex');
  const world = `bw-world-${id}`;
  const trap = `bw-trap-${id}`;
  const [w, t] = [`bww${id}`, `bwt${id}`];
  const destroy = () => {
    for (const ns of [world, trap]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
  };
  try {
    for (const ns of [world, trap]) {
      ip('netns', 'add', ns);
      inNs(ns, 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; ip link set lo up');
    }
    ip('link', 'add', w, 'netns', world, 'type', 'veth', 'peer', 'name', t, 'netns', trap);
    inNs(world, `ip addr add 198.18.0.1/30 dev ${w} && ip link set ${w} up && ip route add default via 198.18.0.2`);
    inNs(trap, `ip addr add 198.18.0.2/30 dev ${t} && ip link set ${t} up && ${TRAP_ADDRESSES.map((a) => `ip addr add ${a}/32 dev lo`).join(' && ')}`);
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    world,
    trapPackets() {
      const [link] = JSON.parse(ip('-n', trap, '-s', '-j', 'link', 'show', 'dev', t)) as Array<{ stats64: { rx: { packets: number } } }>;
      return link!.stats64.rx.packets;
    },
    spawnCli(args, env = {}) {
      return spawnCli(args, { env, wrap: ['ip', 'netns', 'exec', world] });
    },
    destroy,
  };
}
