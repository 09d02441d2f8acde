import { describe, expect, test } from 'vitest';
import { describeFindings, fillPath, useTarget } from '../../harness/index.ts';

/**
 * Smoke: the stack answers through Toxiproxy, every principal can log in, and
 * no resource route answers an anonymous caller. Generated from the profile.
 */
const target = await useTarget();

describe('smoke', () => {
  test.each(target.principals.map((p) => p.name))('principal %s can log in through the entry link', async (name) => {
    const cred = await target.credentials(name);
    expect(Object.keys(cred.headers ?? {}).length + Object.keys(cred.cookies ?? {}).length, `${name} got no credentials`).toBeGreaterThan(0);
  });

  test('anonymous callers are denied on every resource route', async ({ task }) => {
    for (const [resource, def] of Object.entries(target.profile.resources)) {
      const instance = await target.createInstance(resource);
      for (const [op, route] of Object.entries(def.operations)) {
        if (!route) continue;
        const path = fillPath(route.path, instance.params);
        const body = route.body?.({ world: target.world, params: instance.params, runId: target.run.runId });
        const ex = await target.request(null, { method: route.method, path, body, contentType: route.contentType });
        if (ex.status >= 500 || !target.isDenied(ex)) {
          target.report(task, {
            check: 'authn.anonymous-access',
            suite: 'smoke',
            severity: 'critical',
            title: `anonymous ${route.method} ${route.path} was not denied`,
            subject: `${resource}.${op} ${route.method} ${route.path}`,
            observed: `status ${ex.status}`,
            expected: `one of ${target.profile.deny.statuses.join('/')}`,
            excerpt: `${route.method} ${path}\n${ex.status} ${ex.text.slice(0, 300)}`,
          });
        }
      }
    }
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });
});
