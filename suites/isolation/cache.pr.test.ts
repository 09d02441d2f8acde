import { describe, expect, test } from 'vitest';
import { describeFindings, useTarget } from '../../harness/index.ts';

/**
 * Cache isolation: each principal first warms every cached path of its own
 * tenant, then asks for the same paths of every other tenant. A cache keyed
 * without the tenant answers the second request from the first: nothing of
 * another tenant may come back.
 */
const target = await useTarget();
const paths = target.profile.cache?.paths(target.world) ?? [];

describe('cache isolation', () => {
  test.skipIf(paths.length === 0)('paths warmed by one tenant are never served to another', async ({ task }) => {
    const tenants = new Set(paths.map((p) => p.tenant));
    expect(tenants.size, 'cache isolation needs cache paths of at least two tenants in the profile').toBeGreaterThan(1);
    await Promise.all(
      target.principals.map(async (principal) => {
        const own = paths.filter((p) => p.tenant === principal.tenant);
        const foreign = paths.filter((p) => p.tenant !== principal.tenant);
        for (const p of own) await target.request(principal.name, { method: 'GET', path: p.path });
        for (const p of foreign) {
          const ex = await target.request(principal.name, { method: 'GET', path: p.path });
          if (!target.isDenied(ex)) {
            const template = p.path.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b\d+\b/gi, '{id}');
            target.report(task, {
              check: 'isolation.cache',
              suite: 'isolation/cache',
              severity: 'critical',
              title: `${principal.name} (${principal.tenant}) read ${p.tenant}'s ${template} after warming its own tenant's cache`,
              subject: `GET ${template} of ${p.tenant} as ${principal.name}`,
              observed: `status ${ex.status}`,
              expected: `denied (${target.profile.deny.statuses.join('/')})`,
              excerpt: `GET ${p.path} as ${principal.name}\n→ ${ex.status} ${ex.text.slice(0, 240)}`,
            });
          }
        }
      }),
    );
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });
});
