import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load-config.ts';
import type { Credentials, RealtimeRoom, ResourceInstance } from '../config/target.ts';
import { oneLine } from '../errors.ts';
import { Redactor } from '../safety/redact.ts';
import { credentialSecrets } from '../suite/http-auth.ts';
import { RealtimeClient } from '../suite/realtime-client.ts';
import { createTargetContext } from '../suite/use-target.ts';
import { startRunStack } from './run-stack.ts';
import { newRunId } from './run-tier.ts';

/** One profile mistake: the field it is in, and what went wrong there (one line). */
export interface ProfileProblem {
  field: string;
  problem: string;
}

export interface ProfileCheck {
  problems: ProfileProblem[];
  /** What was exercised and worked, one line each. */
  passed: string[];
  /** What could not be judged (the service answered 429, 5xx or nothing, even after retries): neither a problem nor a pass. */
  inconclusive: string[];
}

/** Bound on one join's reply. */
const JOIN_TIMEOUT_MS = 5_000;

/**
 * A dry run of the profile against a freshly started stack: seed, log every
 * principal in, create an instance of every resource, join every room as each
 * of its members, and ask each egress endpoint once for the allowed origin.
 * It sends no attack and reports no finding: what it finds are profile
 * mistakes, each named by its field. The stack is always stopped.
 */
export async function checkProfile(config: ResolvedConfig, opts: { runId?: string; onStep?: (s: string) => void; signal?: AbortSignal } = {}): Promise<ProfileCheck> {
  const profile = config.target;
  const problems: ProfileProblem[] = [];
  const passed: string[] = [];
  const inconclusive: string[] = [];
  const runId = opts.runId ?? newRunId('check');
  const outDir = mkdtempSync(join(tmpdir(), 'breakwater-check-profile-'));
  const { stack, egress } = await startRunStack(config, { runId, outDir, onStep: opts.onStep, signal: opts.signal });
  const redactor = new Redactor([...Object.values(stack.secrets), ...(profile.secrets?.values ?? [])]);
  const say = (err: unknown) => redactor.redact(oneLine(err));
  try {
    opts.onStep?.('seeding');
    let world: unknown;
    try {
      world = await profile.seed({ baseUrl: stack.info.baseUrl, runId, secret: (v) => redactor.add(v) });
      passed.push('seed() returned a world');
    } catch (err) {
      problems.push({ field: 'seed', problem: `seed() failed: ${say(err)}` });
      return { problems, passed, inconclusive };
    }

    opts.onStep?.('logging every principal in');
    const creds = new Map<string, Credentials>();
    for (const [name, def] of Object.entries(profile.principals)) {
      try {
        const c = await def.login({ baseUrl: stack.info.baseUrl, world, runId });
        for (const v of credentialSecrets(c)) redactor.add(v);
        creds.set(name, c);
      } catch (err) {
        problems.push({ field: `principals.${name}.login`, problem: `login() failed: ${say(err)}` });
      }
    }
    passed.push(`${creds.size} of ${Object.keys(profile.principals).length} principals logged in`);

    opts.onStep?.('creating every resource');
    // A step that needs a principal whose login already failed is that mistake again: it is not reported twice.
    class NoLogin extends Error {}
    const as = async (p: string) => {
      const c = creds.get(p);
      if (!c) throw new NoLogin(p);
      return c;
    };
    const instances = new Map<string, ResourceInstance>();
    for (const [name, def] of Object.entries(profile.resources)) {
      try {
        instances.set(name, await def.create({ baseUrl: stack.info.baseUrl, world, runId, as }));
      } catch (err) {
        if (!(err instanceof NoLogin)) problems.push({ field: `resources.${name}.create`, problem: `create() failed: ${say(err)}` });
      }
    }
    passed.push(`${instances.size} of ${Object.keys(profile.resources).length} resources created`);

    const rt = profile.realtime;
    if (rt) {
      opts.onStep?.('joining every room');
      let rooms: RealtimeRoom[] = [];
      try {
        rooms = rt.rooms(world);
      } catch (err) {
        problems.push({ field: 'realtime.rooms', problem: `rooms(world) failed: ${say(err)}` });
      }
      await using client = new RealtimeClient({ baseUrl: stack.info.baseUrl, realtime: rt });
      let joins = 0;
      for (const room of rooms) {
        for (const member of room.members) {
          const field = `realtime.rooms[${room.key}]`;
          if (!profile.principals[member]) {
            problems.push({ field, problem: `member "${member}" is not a principal of the profile` });
            continue;
          }
          const c = creds.get(member);
          if (!c) continue;
          const conn = await client.connect(member, c);
          if (!conn.connected) {
            problems.push({ field: 'realtime.auth', problem: `${member} could not open a socket on ${rt.path}: ${conn.reason}` });
            continue;
          }
          const from = conn.socket.frames.length;
          conn.socket.send(rt.join.frame(room));
          const reply = await conn.socket.waitFor((f) => rt.join.accepted(f, room) || rt.join.refused(f, room), JOIN_TIMEOUT_MS, from);
          if (!reply) problems.push({ field: `${field}.join`, problem: `${member}, a member, got no reply that join.accepted or join.refused recognises within ${JOIN_TIMEOUT_MS / 1000} s` });
          else if (!rt.join.accepted(reply.data, room)) problems.push({ field, problem: `${member} is listed as a member but the join was refused (${redactor.redact(reply.text.slice(0, 120))})` });
          else joins++;
          await conn.socket.close();
        }
      }
      passed.push(`${joins} member join(s) accepted`);
    }

    if (profile.egress?.length && egress) {
      opts.onStep?.('asking each egress endpoint for the allowed origin');
      const ctx = createTargetContext(
        { configPath: config.configPath, runId, tier: 'pr', outDir, numRuns: 1, fcSeed: 0, stack: stack.info, world, secrets: redactor.values(), stackSecrets: { ...stack.secrets } },
        profile,
      );
      for (const [i, e] of profile.egress.entries()) {
        const field = `egress[${i}] (${e.name})`;
        if (!creds.has(e.as)) continue;
        if (!e.testOriginEnv) {
          passed.push(`${field}: no testOriginEnv, so the allowed origin cannot be checked`);
          continue;
        }
        // Read by the outcome oracle, retried while the service does not decide (a 429, a 503): that is no profile mistake.
        const { outcome, exchange: ex } = await ctx.judge(e.as, { method: e.method, path: e.path, body: e.body(`${egress.allowedOrigin}/page`) });
        if (outcome.verdict === 'inconclusive') inconclusive.push(`${field}: not judged, the service did not decide (${outcome.why})`);
        else if (e.blocked(ex!.status, ex!.body) || outcome.verdict !== 'allowed') {
          problems.push({ field, problem: `fetching the allowed origin answered ${ex!.status}${e.blocked(ex!.status, ex!.body) ? ' (blocked)' : ''}: check that ${e.testOriginEnv} is in the service's passEnv and that blocked() recognises only refusals` });
        } else passed.push(`${field}: the allowed origin was fetched`);
      }
    }
    return { problems, passed, inconclusive };
  } finally {
    await stack.stop();
    await egress?.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}
