import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { errorLines, hasStackTrace, runCli } from '../helpers/cli.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';

/**
 * A profile mistake found only once the stack is up (a login that fails) is
 * one profile error: one line naming the field, exit 2, no report and no
 * findings, and the stack stopped; not a failed check in every suite.
 */
describe('a principal whose login() fails', () => {
  test('one line naming principals.<name>.login, exit 2, no run.json, nothing left behind', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bw-profile-err-'));
    const id = `profile-err-${randomBytes(3).toString('hex')}`;
    const r = await runCli(['run', '--config', 'test/fixtures/configs/broken-login.config.ts', '--suite', 'authz/', '--out', out], { env: { BREAKWATER_RUN_ID: id }, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(2);
    const lines = errorLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/profile reference-chat: principals\.acmeMember\.login\(\) failed: POST \/auth\/login answered 401 .*\[BW_PROFILE_INVALID\]$/);
    expect(hasStackTrace(r.stderr + r.stdout)).toBe(false);
    expect(existsSync(join(out, 'run.json'))).toBe(false);
    await expectNothingLeft(id, JSON.parse(readFileSync(join(out, 'stack.json'), 'utf8')));
  }, 120_000);
});
