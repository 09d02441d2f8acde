import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Stack work dirs live here, named so the reaper can find them. */
export const STACK_DIR_PREFIX = 'breakwater-stack-';
const OWNER_FILE = 'owner.json';

interface OwnerRecord {
  ownerPid: number;
  pids: number[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Records which processes a stack owns, so a later run can clean up after a harness that was SIGKILLed. */
export function recordOwnership(workDir: string, pids: number[]): void {
  const rec: OwnerRecord = { ownerPid: process.pid, pids };
  writeFileSync(join(workDir, OWNER_FILE), JSON.stringify(rec));
}

/**
 * Kills the process groups and removes the work dirs of stacks whose owning
 * harness process is gone. Returns how many stacks it reaped.
 */
export function reapOrphanedStacks(): number {
  let reaped = 0;
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(STACK_DIR_PREFIX));
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const dir = join(tmpdir(), entry);
    const file = join(dir, OWNER_FILE);
    if (!existsSync(file)) continue;
    let rec: OwnerRecord;
    try {
      rec = JSON.parse(readFileSync(file, 'utf8')) as OwnerRecord;
    } catch {
      continue;
    }
    if (alive(rec.ownerPid)) continue;
    for (const pid of rec.pids) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
    reaped++;
  }
  return reaped;
}
