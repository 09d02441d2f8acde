import pc from 'picocolors';
import { observeNetwork, sealLauncher } from '../safety/sealed-network.ts';
import { discoverTools } from '../stack/tools.ts';

/** `breakwater doctor`: every tool with its version and path, or how to get it. Exit 3 if a required one is missing. */
export async function doctorCommand(opts: { json?: boolean }): Promise<void> {
  const tools = await discoverTools();
  const observed = observeNetwork();
  const launcher = observed.mode === 'sealed' ? undefined : sealLauncher();
  const network = observed.mode === 'sealed' ? { sealed: true, how: 'this process is already in a loopback-only namespace' } : launcher!.ok ? { sealed: true, how: launcher!.how } : { sealed: false, reason: launcher!.reason };
  if (opts.json) {
    process.stdout.write(JSON.stringify({ tools, network }, null, 2) + '\n');
  } else {
    for (const t of tools) {
      const mark = t.found ? pc.green('✓') : t.required ? pc.red('✗') : pc.yellow('–');
      const detail = t.found ? `${t.version ?? 'unknown version'}  ${pc.dim(t.path ?? '')}` : `${t.required ? 'missing' : 'optional, missing'}: ${t.fix}`;
      process.stdout.write(`${mark} ${t.name.padEnd(17)} ${detail}\n`);
    }
    const line = network.sealed
      ? `${pc.green('✓')} ${'sealed network'.padEnd(17)} local runs get a loopback-only network namespace (${network.how})`
      : `${pc.yellow('–')} ${'sealed network'.padEnd(17)} unavailable: ${network.reason}; local runs then skip SSRF cases that name non-loopback addresses`;
    process.stdout.write(line + '\n');
  }
  if (tools.some((t) => t.required && !t.found)) process.exitCode = 3;
}
