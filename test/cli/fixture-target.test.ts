import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';

/**
 * The suites are generic: the same PR tier runs against the notes fixture
 * (cookie sessions, numeric ids, 404-as-deny, other socket events) with only
 * its profile, and no suite change.
 */
test('the PR tier runs unchanged against a second, different service', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bw-notes-out-'));
  const id = `notes-${randomBytes(3).toString('hex')}`;
  const r = await runCli(['run', '--config', 'test/fixtures/notes/breakwater.config.ts', '--out', out, '--json'], { env: { BREAKWATER_RUN_ID: id } });
  expect(r.code, r.stderr).toBe(0);
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
  expect(run).toMatchObject({ verdict: 'pass', target: { name: expect.stringMatching(/notes/) }, findings: [] });
  expect(run.checks.length).toBeGreaterThan(1);
  expect(run.checks.map((c: { suite: string }) => c.suite)).toContain('suites/smoke/stack.pr.test.ts');
  await expectNothingLeft(id, JSON.parse(readFileSync(join(out, 'stack.json'), 'utf8')));
});
