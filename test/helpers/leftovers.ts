import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { expect } from 'vitest';
import { processesOfStack } from '../../harness/stack/managed-process.ts';
import { isListening } from '../../harness/stack/ports.ts';
import { STACK_DIR_PREFIX } from '../../harness/stack/reaper.ts';
import type { StackInfo } from '../../harness/stack/types.ts';

/** Every port a started stack used: services, link listeners, Toxiproxy's API. */
export function stackPorts(info: StackInfo): number[] {
  const ports = Object.values(info.services).map((s) => s.port).filter((p): p is number => !!p);
  for (const l of Object.values(info.links)) ports.push(Number(l.listen.split(':').pop()));
  return ports;
}

/** Temp dirs that a stack with this run id created and did not remove. */
export function stackDirs(runId: string): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith(`${STACK_DIR_PREFIX}${runId}-`));
}

/**
 * Asserts that a stack left nothing behind: no process carrying its run
 * marker, no listening port it used, no temp dir.
 */
export async function expectNothingLeft(runId: string, info?: StackInfo): Promise<void> {
  // Processes may take a moment to be reaped by the kernel after SIGKILL.
  let pids = processesOfStack(runId);
  for (let i = 0; i < 20 && pids.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    pids = processesOfStack(runId);
  }
  expect(pids, `processes of stack ${runId} still alive`).toEqual([]);
  expect(stackDirs(runId), `temp dirs of stack ${runId} left behind`).toEqual([]);
  if (info) {
    const open: number[] = [];
    for (const p of stackPorts(info)) if (await isListening(p)) open.push(p);
    expect(open, `ports of stack ${runId} still listening`).toEqual([]);
    if (info.workDir) expect(existsSync(info.workDir), `${info.workDir} still exists`).toBe(false);
  }
}
