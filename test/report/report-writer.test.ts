import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { reportWriter, writeReports } from '../../harness/report/report-writer.ts';
import { multiplex, REPORTERS, type Reporter, type ReporterContext } from '../../harness/report/reporter.ts';
import type { ArtifactContext } from '../../harness/run/artifacts.ts';
import { Redactor } from '../../harness/safety/redact.ts';
import { FAKE_PASSWORD, FAKE_TOKEN, sampleRunResult } from '../helpers/run-result.ts';

const tmpOut = () => mkdtempSync(join(tmpdir(), 'bw-report-'));
const FILES = ['junit.xml', 'results.sarif', 'summary.md', 'report.html'];

afterEach(() => vi.restoreAllMocks());

describe('report writer', () => {
  test('writes the four reports and returns their paths by kind', async () => {
    const out = tmpOut();

    const { paths, failures } = await writeReports(sampleRunResult(), { outDir: out, redactor: new Redactor() });

    expect(failures).toEqual([]);
    expect(paths).toEqual({ junit: join(out, 'junit.xml'), sarif: join(out, 'results.sarif'), markdown: join(out, 'summary.md'), html: join(out, 'report.html') });
    expect(readdirSync(out).sort()).toEqual([...FILES].sort());
  });

  test('no registered secret appears in any report, even where escaping would change it', async () => {
    const out = tmpOut();
    const redactor = new Redactor([FAKE_TOKEN, FAKE_PASSWORD]);
    const run = sampleRunResult();
    expect(JSON.stringify(run)).toContain(FAKE_TOKEN);

    await writeReports(run, { outDir: out, redactor });

    const escaped = (s: string) => [s, s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'), JSON.stringify(s).slice(1, -1)];
    for (const file of FILES) {
      const text = readFileSync(join(out, file), 'utf8');
      expect(redactor.leaks(text), file).toEqual([]);
      for (const form of [...escaped(FAKE_TOKEN), ...escaped(FAKE_PASSWORD)]) expect(text, `${file} has ${form}`).not.toContain(form);
      expect(text, file).toMatch(/\\?\[REDACTED\\?\]/);
    }
  });

  test('an unknown reporter name is a usage error naming the choices', async () => {
    await expect(writeReports(sampleRunResult(), { outDir: tmpOut(), redactor: new Redactor(), reporters: ['junit', 'pdf'] })).rejects.toMatchObject({
      code: 'BW_USAGE',
      message: 'unknown reporter "pdf" (reporters: junit, sarif, markdown, html)',
    });
  });

  test('a reporter that throws does not stop the others; the artifact writer names it', async () => {
    const out = tmpOut();
    vi.spyOn(REPORTERS, 'sarif').mockImplementation(() => ({
      name: 'sarif',
      async onRunEnd() {
        throw new Error('disk on fire\nsecond line');
      },
    }));
    const ctx = { result: sampleRunResult(), outDir: out, runJson: join(out, 'run.json'), redactor: new Redactor() } as unknown as ArtifactContext;

    await expect(reportWriter.write(ctx)).rejects.toThrow('sarif reporter failed in onRunEnd: disk on fire (written: junit, markdown, html)');

    expect(existsSync(join(out, 'results.sarif'))).toBe(false);
    for (const f of ['junit.xml', 'summary.md', 'report.html']) expect(existsSync(join(out, f)), f).toBe(true);
  });
});

describe('multiplex', () => {
  function recorder(name: string, log: string[], throwIn?: keyof Omit<Reporter, 'name'>): Reporter {
    const hook = (h: string) => () => {
      log.push(`${name}.${h}`);
      if (h === throwIn) throw new Error(`${name} broke in ${h}`);
    };
    return {
      name,
      onRunStart: hook('onRunStart'),
      onCheck: hook('onCheck'),
      onFinding: hook('onFinding'),
      async onRunEnd() {
        hook('onRunEnd')();
        return `/out/${name}`;
      },
    };
  }

  test('calls every hook on every reporter in order, isolating one that throws', async () => {
    const log: string[] = [];
    const mux = multiplex([recorder('a', log), recorder('b', log, 'onCheck'), recorder('c', log, 'onRunEnd')]);
    const run = sampleRunResult();

    await mux.onRunStart(run);
    await mux.onCheck(run.checks[0]!);
    await mux.onCheck(run.checks[1]!);
    await mux.onFinding(run.findings[0]!);
    const paths = await mux.onRunEnd(run, {} as ReporterContext);

    expect(paths).toEqual({ a: '/out/a' });
    expect(mux.failures).toEqual([
      { reporter: 'b', hook: 'onCheck', message: 'b broke in onCheck' },
      { reporter: 'c', hook: 'onRunEnd', message: 'c broke in onRunEnd' },
    ]);
    // b is not called again after it failed: its report would be incomplete
    expect(log).toEqual(['a.onRunStart', 'b.onRunStart', 'c.onRunStart', 'a.onCheck', 'b.onCheck', 'c.onCheck', 'a.onCheck', 'c.onCheck', 'a.onFinding', 'c.onFinding', 'a.onRunEnd', 'c.onRunEnd']);
  });

  test('hooks are optional', async () => {
    const mux = multiplex([{ name: 'quiet' }]);
    const run = sampleRunResult();

    await mux.onRunStart(run);
    await mux.onFinding(run.findings[0]!);

    expect(await mux.onRunEnd(run, {} as ReporterContext)).toEqual({});
    expect(mux.failures).toEqual([]);
  });
});
