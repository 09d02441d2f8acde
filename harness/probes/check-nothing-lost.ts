import { Agent, request } from 'undici';
import type { Credentials, IntegrityChannel, TargetProfile } from '../config/target.ts';
import { BreakwaterError } from '../errors.ts';
import { authHeaders } from '../suite/http-auth.ts';
import { integrityChannels } from './integrity-writers.ts';
import { findMarkers } from './markers.ts';
import type { WriteLog, WriteRecord } from './write-log.ts';

export interface IntegrityReport {
  writes: { total: number; acked: number; rejected: number; indeterminate: number };
  /** Acknowledged, and absent from its channel's history. */
  lost: WriteRecord[];
  /** Stored more than once in the channel it was written to. */
  duplicates: Array<{ marker: string; channel: string; count: number }>;
  /** Stored in a channel it was not written to. */
  wrongChannel: Array<{ marker: string; wrote: string; found: string }>;
  /** Rejected writes that are stored anyway: not a finding (the target may store and still answer with an error), shown for reading. */
  rejectedButStored: number;
  ok: boolean;
}

export interface CheckOptions {
  profile: TargetProfile;
  world: unknown;
  baseUrl: string;
  login(principal: string): Promise<Credentials>;
  log: WriteLog;
}

/** Reads of history pages are retried this often on a 5xx or a failed connection (the target may still be recovering). */
const READ_TRIES = 5;
const READ_BACKOFF_MS = 500;
const READ_TIMEOUT_MS = 10_000;

/**
 * Reads every integrity channel's whole history and compares it with a write
 * log: an acknowledged write that is missing from its channel is lost, a
 * marker stored twice in its channel is a duplicate, a marker stored in
 * another channel was delivered into the wrong one. An indeterminate write
 * may be present or absent; neither is a finding. Run it once faults are
 * removed and the target has recovered.
 */
export async function checkNothingLost(opts: CheckOptions): Promise<IntegrityReport> {
  const def = opts.profile.integrity;
  if (!def) throw new BreakwaterError('BW_PROFILE_INVALID', `profile ${opts.profile.name} declares no integrity; add integrity (channels, http or realtime, history) to check writes`);
  const channels = integrityChannels(def, opts.world, opts.profile);
  const keys = new Set(channels.map((c) => c.key));
  for (const w of opts.log.writes) {
    if (!keys.has(w.channel)) {
      throw new BreakwaterError('BW_USAGE', `write log names channel "${w.channel}", which integrity.channels(world) of profile ${opts.profile.name} does not return (channels: ${[...keys].join(', ')}); check with the world the writers used`);
    }
  }

  const agent = new Agent({ connections: 4 });
  try {
    const stored = new Map<string, Array<{ channel: string; count: number }>>();
    const logged = new Set(opts.log.writes.map((w) => w.marker));
    for (const channel of channels) {
      const cred = await opts.login(channel.as);
      const payloads = await def.history({ baseUrl: opts.baseUrl, channel, get: (path) => getJson(agent, opts.baseUrl, path, channel, cred) });
      if (!Array.isArray(payloads)) throw new BreakwaterError('BW_PROFILE_INVALID', `profile ${opts.profile.name}: integrity.history() for channel "${channel.key}" must resolve to an array of payload texts`);
      const counts = new Map<string, number>();
      for (const text of payloads) for (const m of findMarkers(String(text))) if (logged.has(m)) counts.set(m, (counts.get(m) ?? 0) + 1);
      for (const [marker, count] of counts) {
        let list = stored.get(marker);
        if (!list) stored.set(marker, (list = []));
        list.push({ channel: channel.key, count });
      }
    }
    return classify(opts.log, stored);
  } finally {
    await agent.destroy().catch(() => {});
  }
}

function classify(log: WriteLog, stored: Map<string, Array<{ channel: string; count: number }>>): IntegrityReport {
  const report: IntegrityReport = {
    writes: { total: log.writes.length, acked: 0, rejected: 0, indeterminate: 0 },
    lost: [],
    duplicates: [],
    wrongChannel: [],
    rejectedButStored: 0,
    ok: true,
  };
  for (const w of log.writes) {
    report.writes[w.outcome]++;
    const found = stored.get(w.marker) ?? [];
    const own = found.find((f) => f.channel === w.channel)?.count ?? 0;
    for (const f of found) if (f.channel !== w.channel) report.wrongChannel.push({ marker: w.marker, wrote: w.channel, found: f.channel });
    if (own > 1) report.duplicates.push({ marker: w.marker, channel: w.channel, count: own });
    if (w.outcome === 'acked' && own === 0) report.lost.push(w);
    if (w.outcome === 'rejected' && own > 0) report.rejectedButStored++;
  }
  report.lost.sort((a, b) => a.sentAt - b.sentAt);
  report.duplicates.sort((a, b) => a.marker.localeCompare(b.marker));
  report.wrongChannel.sort((a, b) => a.marker.localeCompare(b.marker) || a.found.localeCompare(b.found));
  report.ok = report.lost.length === 0 && report.duplicates.length === 0 && report.wrongChannel.length === 0;
  return report;
}

/** One GET as the channel's principal, parsed as JSON; retried while the target answers 5xx or cannot be reached. */
async function getJson(agent: Agent, baseUrl: string, path: string, channel: IntegrityChannel, cred: Credentials): Promise<unknown> {
  const url = new URL(path, baseUrl).href;
  let last = '';
  for (let i = 0; i < READ_TRIES; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, READ_BACKOFF_MS * i));
    try {
      const res = await request(url, { dispatcher: agent, method: 'GET', headers: authHeaders(cred), headersTimeout: READ_TIMEOUT_MS, bodyTimeout: READ_TIMEOUT_MS });
      const text = await res.body.text();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        try {
          return JSON.parse(text);
        } catch {
          throw new BreakwaterError('BW_PROFILE_INVALID', `integrity history: GET ${path} as ${channel.as} answered ${res.statusCode} with a body that is not JSON`);
        }
      }
      if (res.statusCode < 500) {
        throw new BreakwaterError(
          'BW_PROFILE_INVALID',
          `integrity history: GET ${path} as ${channel.as} answered ${res.statusCode}; the channel's principal must be able to read channel "${channel.key}" and the route must exist`,
        );
      }
      last = `answered ${res.statusCode}`;
    } catch (err) {
      if (err instanceof BreakwaterError) throw err;
      last = `failed (${(err as { code?: string }).code ?? (err as Error).message.split('\n')[0]})`;
    }
  }
  throw new BreakwaterError('BW_TARGET_UNREACHABLE', `integrity history: GET ${path} as ${channel.as} ${last} ${READ_TRIES} times; check only after the target has recovered`);
}
