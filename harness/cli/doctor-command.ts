import pc from 'picocolors';
import { discoverTools } from '../stack/tools.ts';

/** `breakwater doctor`: every tool with its version and path, or how to get it. Exit 3 if a required one is missing. */
export async function doctorCommand(opts: { json?: boolean }): Promise<void> {
  const tools = await discoverTools();
  if (opts.json) {
    process.stdout.write(JSON.stringify({ tools }, null, 2) + '\n');
  } else {
    for (const t of tools) {
      const mark = t.found ? pc.green('✓') : t.required ? pc.red('✗') : pc.yellow('–');
      const detail = t.found ? `${t.version ?? 'unknown version'}  ${pc.dim(t.path ?? '')}` : `${t.required ? 'missing' : 'optional, missing'}: ${t.fix}`;
      process.stdout.write(`${mark} ${t.name.padEnd(17)} ${detail}\n`);
    }
  }
  if (tools.some((t) => t.required && !t.found)) process.exitCode = 3;
}
