import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import { loadScenarios } from '../../harness/config/load-scenarios.ts';
import { resolveConfig } from '../../harness/config/load-config.ts';
import { resolveScenario, scenarioLengthMs, spanMs } from '../../harness/config/scenario.ts';
import { resolveLink, resolveService } from '../../harness/faults/injector.ts';
import { timelineEvents } from '../../harness/faults/timeline.ts';
import { checkScenarioFits } from '../../harness/run/scenario-runner.ts';

const ROOT = join(import.meta.dirname, '../..');
const resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
const base = { name: 'x', description: 'd', load: { script: 'scenarios/load/chat-mix.ts' }, method: [{ at: 0, for: '1s', fault: { down: '@redis' } }], recovery: { within: '5s' } };

describe('scenario definitions', () => {
  test('every shipped scenario loads, validates and is listed by the nightly tier', async () => {
    const all = await loadScenarios(resolved);
    expect([...all.keys()].sort()).toEqual([...resolved.tiers.nightly.scenarios!].sort());
    for (const { scenario } of all.values()) expect(checkScenarioFits(scenario, resolved, { toxiproxy: {} as never, processes: {} as never })).toBeUndefined();
  });

  test.each([
    [{ ...base, name: 'Bad Name' }, /scenario x\.ts\.name: must be lowercase/],
    [{ ...base, method: [] }, /method: needs at least one fault/],
    [{ ...base, method: [{ at: 'soon', for: '1s', fault: { down: '@redis' } }] }, /method\[0\]\.at: must be a duration/],
    [{ ...base, method: [{ at: 0, for: '1s', fault: { toxic: 'latency', link: '@postgres', toxicity: 2 } }] }, /toxicity/],
    [{ ...base, extra: 1 }, /unknown field "extra"/],
    [{ ...base, method: [{ at: 0, for: '20m', fault: { down: '@redis' } }] }, /more than the 15 min bound/],
  ])('a malformed scenario gets one line naming the field (%#)', (raw, message) => {
    expect(() => resolveScenario(raw, 'x.ts')).toThrow(message);
    try {
      resolveScenario(raw, 'x.ts');
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
    }
  });

  test('roles resolve against the profile, unknown names are refused with the list', () => {
    const stack = resolved.target.stack;
    expect(resolveLink('@entry', stack)).toBe('client-app');
    expect(resolveLink('@postgres', stack)).toBe('app-postgres');
    expect(resolveLink('@redis', stack)).toBe('app-redis');
    expect(resolveService('@app', stack)).toBe('app');
    expect(resolveService('@postgres', stack)).toBe('postgres');
    expect(() => resolveLink('db', stack)).toThrow(/no link "db" in the profile \(links: client-app, app-postgres, app-redis\)/);
    expect(() => resolveService('@kafka', stack)).toThrow(/service role "@kafka" matches no service/);
  });

  test('a scenario naming an SLO the profile lacks is refused; process faults on a stack without process control are skipped with the reason', () => {
    const bad = resolveScenario({ ...base, steadyState: { during: { 'p99-latency': 1 } } }, 'x.ts');
    expect(() => checkScenarioFits(bad, resolved, { toxiproxy: {} as never })).toThrow(/names SLO "p99-latency", which the profile does not declare/);
    const kill = resolveScenario({ ...base, method: [{ at: 0, for: '1s', fault: { kill: '@app' } }] }, 'x.ts');
    expect(checkScenarioFits(kill, resolved, { toxiproxy: {} as never })).toMatch(/does not own the processes/);
  });

  test('the timeline removes before it applies at the same instant, and the load covers baseline, method, recovery bound and after', () => {
    const s = resolveScenario({ ...base, baseline: '2s', after: '3s', method: [{ at: 0, for: '1s', fault: { down: '@redis' } }, { at: '1s', for: '500ms', fault: { pause: '@postgres' } }] }, 'x.ts');
    expect(timelineEvents(s.method).map((e) => `${e.t}:${e.kind}:${e.i}`)).toEqual(['0:apply:0', '1000:remove:0', '1000:apply:1', '1500:remove:1']);
    expect(scenarioLengthMs(s)).toBe(2000 + 1500 + 5000 + 3000);
    expect(spanMs('300ms')).toBe(300);
    expect(spanMs('2m')).toBe(120_000);
  });
});
