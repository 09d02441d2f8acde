import type { Fault, FaultStep, LinkRef, ServiceRef } from '../config/scenario.ts';
import { faultLabel, spanMs } from '../config/scenario.ts';
import type { StackDefinition } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import type { ProcessControl } from '../stack/types.ts';
import type { ToxiproxyControl } from '../stack/toxiproxy.ts';

/** A fault as it happened: what was asked for, and when it was in place (epoch ms, one clock). */
export interface AppliedFault {
  label: string;
  kind: 'toxic' | 'down' | 'kill' | 'pause';
  /** The link (toxics, down) or the service (kill, pause) it hit. */
  link?: string;
  service?: string;
  /** The toxic type, or the kind for process and link faults. */
  toxic: string;
  stream?: 'upstream' | 'downstream';
  attributes?: Record<string, number>;
  toxicity?: number;
  /** Planned offset and length (ms from the method's start). */
  plannedAt: number;
  plannedFor: number;
  /** When the fault was confirmed in place, and when it was confirmed removed. */
  start?: number;
  end?: number;
  error?: string;
}

export interface RollbackRecord {
  action: string;
  at: number;
  ok: boolean;
  error?: string;
}

/** Resolves a link role (`@entry`, `@postgres`, `@redis`) or name to a link name of the stack. */
export function resolveLink(ref: LinkRef, stack: StackDefinition): string {
  if (!ref.startsWith('@')) {
    if (!stack.links.some((l) => l.name === ref)) throw new BreakwaterError('BW_CONFIG_INVALID', `no link "${ref}" in the profile (links: ${stack.links.map((l) => l.name).join(', ')})`);
    return ref;
  }
  const role = ref.slice(1);
  if (role === 'entry') return stack.entry;
  const app = stack.links.find((l) => l.name === stack.entry)?.to;
  const candidates = stack.links.filter((l) => stack.services[l.to]?.kind === role);
  const link = candidates.find((l) => l.from === app) ?? candidates[0];
  if (!link) throw new BreakwaterError('BW_CONFIG_INVALID', `link role "${ref}" matches no link of the profile (roles: @entry, @postgres, @redis; links: ${stack.links.map((l) => l.name).join(', ')})`);
  return link.name;
}

/** Resolves a service role (`@app`, `@postgres`, `@redis`) or name to a service name of the stack. */
export function resolveService(ref: ServiceRef, stack: StackDefinition): string {
  if (!ref.startsWith('@')) {
    if (!stack.services[ref]) throw new BreakwaterError('BW_CONFIG_INVALID', `no service "${ref}" in the profile (services: ${Object.keys(stack.services).join(', ')})`);
    return ref;
  }
  const role = ref.slice(1);
  const name = role === 'app' ? stack.links.find((l) => l.name === stack.entry)?.to : Object.keys(stack.services).find((n) => stack.services[n]!.kind === role);
  if (!name) throw new BreakwaterError('BW_CONFIG_INVALID', `service role "${ref}" matches no service of the profile (roles: @app, @postgres, @redis)`);
  return name;
}

/** Why a stack cannot run a fault, or undefined when it can. */
export function unsupported(f: Fault, caps: { toxiproxy?: unknown; processes?: unknown }): string | undefined {
  if (('toxic' in f || 'down' in f) && !caps.toxiproxy) return 'the stack has no Toxiproxy API to inject link faults (attach with --toxiproxy-url, or use the local or compose provider)';
  if (('kill' in f || 'pause' in f) && !caps.processes) return 'the provider does not own the processes, so it cannot kill or pause them (use the local or compose provider)';
  return undefined;
}

/**
 * Puts faults in place and takes them away, and remembers every one that is
 * in place so that `rollback()` can remove them all: on the planned end, on a
 * deviation, on an abort, and on a crash of the scenario itself.
 */
export class FaultInjector {
  readonly applied: AppliedFault[] = [];
  readonly rollbacks: RollbackRecord[] = [];
  /** Undo actions of the faults in place, by step index. */
  readonly #undo = new Map<number, () => Promise<void>>();
  readonly #records = new Map<number, AppliedFault>();
  #seq = 0;

  constructor(
    private readonly stack: StackDefinition,
    private readonly control: { toxiproxy?: ToxiproxyControl; processes?: ProcessControl },
    /** Prefix of every toxic name, so leftovers are recognisable: `bw-<scenario>`. */
    private readonly prefix: string,
  ) {}

  /** The label of step `i` as applied. */
  label(i: number): string {
    return this.#records.get(i)?.label ?? `step ${i}`;
  }

  /**
   * Asks Toxiproxy and the process control (not our own bookkeeping) whether
   * anything of this scenario is still in place, and records the answer.
   */
  async verifyClean(): Promise<RollbackRecord> {
    const left: string[] = [];
    try {
      if (this.control.toxiproxy) {
        const { toxics, disabled } = await this.control.toxiproxy.leftovers();
        left.push(...toxics.filter((t) => t.split('/').pop()!.startsWith(`${this.prefix}-`)), ...disabled.map((d) => `${d} disabled`));
      }
      left.push(...(this.control.processes?.paused() ?? []).map((p) => `${p} paused`));
      const rec = { action: 'verify that no toxic, disabled link or paused process is left', at: Date.now(), ok: left.length === 0, ...(left.length ? { error: `left in place: ${left.join(', ')}` } : {}) };
      this.rollbacks.push(rec);
      return rec;
    } catch (err) {
      const rec = { action: 'verify that nothing is left in place', at: Date.now(), ok: false, error: oneLine(err) };
      this.rollbacks.push(rec);
      return rec;
    }
  }

  /** Steps still in place. */
  active(): number[] {
    return [...this.#undo.keys()];
  }

  /** Puts step `i` in place; resolves once Toxiproxy or the process table confirms it. */
  async apply(i: number, step: FaultStep): Promise<AppliedFault> {
    const f = step.fault;
    const rec: AppliedFault = {
      label: step.label ?? faultLabel(f),
      kind: 'toxic' in f ? 'toxic' : 'down' in f ? 'down' : 'kill' in f ? 'kill' : 'pause',
      toxic: 'toxic' in f ? f.toxic : 'down' in f ? 'down' : 'kill' in f ? 'kill' : 'pause',
      plannedAt: spanMs(step.at)!,
      plannedFor: spanMs(step.for)!,
    };
    this.applied.push(rec);
    this.#records.set(i, rec);
    const why = unsupported(f, this.control);
    if (why) {
      rec.error = why;
      throw new BreakwaterError('BW_USAGE', why);
    }
    try {
      if ('toxic' in f) {
        const link = resolveLink(f.link, this.stack);
        const name = `${this.prefix}-${i}-${++this.#seq}`;
        Object.assign(rec, { link, stream: f.stream ?? 'downstream', attributes: f.attributes ?? {}, toxicity: f.toxicity ?? 1 });
        // Registered before the call: a request that reached Toxiproxy but timed out on the way back still gets removed.
        this.#undo.set(i, () => this.control.toxiproxy!.removeToxic(link, name));
        await this.control.toxiproxy!.addToxic(link, name, { type: f.toxic, stream: f.stream ?? 'downstream', attributes: f.attributes ?? {}, toxicity: f.toxicity ?? 1 });
      } else if ('down' in f) {
        const link = resolveLink(f.down, this.stack);
        rec.link = link;
        this.#undo.set(i, () => this.control.toxiproxy!.setEnabled(link, true));
        await this.control.toxiproxy!.setEnabled(link, false);
      } else if ('kill' in f) {
        const service = resolveService(f.kill, this.stack);
        rec.service = service;
        this.#undo.set(i, () => this.control.processes!.restart(service));
        await this.control.processes!.kill(service, f.signal ?? 'SIGKILL');
      } else {
        const service = resolveService(f.pause, this.stack);
        rec.service = service;
        this.#undo.set(i, () => this.control.processes!.resume(service));
        await this.control.processes!.pause(service);
      }
      rec.start = Date.now();
      return rec;
    } catch (err) {
      rec.error = oneLine(err);
      throw err;
    }
  }

  /** Takes step `i` away (no-op when it is not in place). */
  async remove(i: number): Promise<void> {
    const undo = this.#undo.get(i);
    if (!undo) return;
    await undo();
    this.#undo.delete(i);
    const rec = this.#records.get(i);
    if (rec) rec.end = Date.now();
  }

  /**
   * Removes every fault still in place, newest first. Every undo is tried even
   * when another fails; each is recorded. `restart: false` skips restarting
   * killed services (the stack is about to be stopped anyway).
   */
  async rollback(opts: { restart?: boolean } = {}): Promise<RollbackRecord[]> {
    const out: RollbackRecord[] = [];
    for (const i of [...this.#undo.keys()].reverse()) {
      const rec = this.#records.get(i);
      if (opts.restart === false && rec?.kind === 'kill') {
        this.#undo.delete(i);
        out.push({ action: `leave ${rec.service} stopped for the stack's teardown`, at: Date.now(), ok: true });
        continue;
      }
      const action = rec ? `undo ${rec.label}` : `undo step ${i}`;
      try {
        await this.remove(i);
        out.push({ action, at: Date.now(), ok: true });
      } catch (err) {
        this.#undo.delete(i);
        out.push({ action, at: Date.now(), ok: false, error: oneLine(err) });
      }
    }
    this.rollbacks.push(...out);
    return out;
  }
}
