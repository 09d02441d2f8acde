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

describe('breakwater check-profile', () => {
  const check = async (config: string) => {
    const id = `check-${randomBytes(3).toString('hex')}`;
    const r = await runCli(['check-profile', '--config', config], { env: { BREAKWATER_RUN_ID: id }, timeoutMs: 90_000 });
    await expectNothingLeft(id);
    expect(hasStackTrace(r.stderr + r.stdout), r.stderr).toBe(false);
    return { ...r, lines: errorLines(r.stderr) };
  };

  test('a principal that cannot log in and a room with an unknown member: one line each, naming the field, exit 2', async () => {
    const r = await check('test/fixtures/configs/broken-login.config.ts');
    expect(r.code, r.stderr).toBe(2);
    expect(r.lines, r.stderr).toEqual([
      expect.stringMatching(/^breakwater: profile reference-chat: principals\.acmeMember\.login: login\(\) failed: POST \/auth\/login answered 401 .*\[BW_PROFILE_INVALID\]$/),
      expect.stringMatching(/^breakwater: profile reference-chat: realtime\.rooms\[ghost-room\]: member "ghost" is not a principal of the profile \[BW_PROFILE_INVALID\]$/),
    ]);
    expect(r.stdout).not.toMatch(/finding/i);
  }, 120_000);

  test('a seed that fails: one line, exit 2 (nothing after it can be checked)', async () => {
    const r = await check('test/fixtures/configs/broken-seed.config.ts');
    expect(r.code, r.stderr).toBe(2);
    expect(r.lines, r.stderr).toEqual([expect.stringMatching(/^breakwater: profile reference-chat: seed: seed\(\) failed: POST \/tenants answered 404/)]);
  }, 120_000);

  test.each([
    ['the reference profile', 'breakwater.config.ts', 'reference-chat'],
    ['the notes profile', 'test/fixtures/notes/breakwater.config.ts', 'notes-fixture'],
  ])('%s is sound: exit 0, and says what it exercised', async (_, config, name) => {
    const r = await check(config);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^profile ok: ${name}\\n  ✓ seed\\(\\) returned a world\\n  ✓ (\\d+) of \\1 principals logged in`));
  }, 120_000);
});
