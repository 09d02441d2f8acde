import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { IntegrityChannel, IntegrityDefinition, TargetProfile } from '../../harness/config/target.ts';
import { BreakwaterError } from '../../harness/errors.ts';
import { checkNothingLost, type IntegrityReport, type WriteLog, type WriteRecord } from '../../harness/probes/integrity.ts';
import { findMarkers, makeMarker, markerPrefix } from '../../harness/probes/markers.ts';

// ── a fake target: channel histories in memory ───────────────────────────────

const CHANNELS: IntegrityChannel[] = [
  { key: 'a', as: 'alice', params: { id: '1' } },
  { key: 'b', as: 'bob', params: { id: '2' } },
];

function fakeProfile(histories: Record<string, string[]>, overrides: Partial<IntegrityDefinition> = {}): TargetProfile {
  const integrity: IntegrityDefinition = {
    channels: () => CHANNELS,
    http: { method: 'POST', path: '/channels/{id}/items', body: (w) => ({ text: w.marker, key: w.key }) },
    history: async ({ channel }) => histories[channel.key] ?? [],
    ...overrides,
  };
  return { name: 'fake', integrity } as Partial<TargetProfile> as TargetProfile;
}

const prefix = markerPrefix('check-test');
const m = (writer: string, seq: number) => makeMarker(prefix, writer, seq);

function write(marker: string, channel: string, outcome: WriteRecord['outcome']): WriteRecord {
  return { marker, channel, via: 'http', sentAt: 1_000, outcome, attempts: 1, ...(outcome === 'acked' ? { ackedAt: 1_010 } : {}) };
}

const logOf = (...writes: WriteRecord[]): WriteLog => ({ writes, startedAt: 0, stoppedAt: 2_000 });

async function check(histories: Record<string, string[]>, log: WriteLog, overrides?: Partial<IntegrityDefinition>): Promise<IntegrityReport> {
  return checkNothingLost({ profile: fakeProfile(histories, overrides), world: {}, baseUrl: 'http://127.0.0.1:9', login: async () => ({}), log });
}

// ── classification ───────────────────────────────────────────────────────────

describe('checkNothingLost classifies a write log against the stored histories', () => {
  test('every acknowledged write stored once in its channel: ok', async () => {
    const log = logOf(write(m('h0', 0), 'a', 'acked'), write(m('h1', 0), 'b', 'acked'), write(m('h0', 1), 'a', 'rejected'));
    const report = await check({ a: [m('h0', 0), 'unrelated chatter'], b: [m('h1', 0)] }, log);
    expect(report).toEqual({
      writes: { total: 3, acked: 2, rejected: 1, indeterminate: 0 },
      lost: [],
      duplicates: [],
      wrongChannel: [],
      rejectedButStored: 0,
      ok: true,
    });
  });

  test('an acknowledged write missing from its channel is lost', async () => {
    const gone = write(m('w0', 7), 'a', 'acked');
    const report = await check({ a: [m('w0', 6)] }, logOf(write(m('w0', 6), 'a', 'acked'), gone));
    expect(report.lost).toEqual([gone]);
    expect(report.ok).toBe(false);
  });

  test('an indeterminate write may be absent or present, and a rejected one may be stored: neither is a finding', async () => {
    const log = logOf(write(m('h0', 0), 'a', 'indeterminate'), write(m('h0', 1), 'a', 'indeterminate'), write(m('h0', 2), 'a', 'rejected'), write(m('h0', 3), 'a', 'rejected'));
    const report = await check({ a: [m('h0', 1), m('h0', 2)] }, log);
    expect(report).toMatchObject({ lost: [], duplicates: [], wrongChannel: [], rejectedButStored: 1, ok: true });
    expect(report.writes).toEqual({ total: 4, acked: 0, rejected: 2, indeterminate: 2 });
  });

  test('a marker stored twice in its channel is a duplicate, whatever the write outcome', async () => {
    const log = logOf(write(m('h0', 0), 'a', 'acked'), write(m('w0', 0), 'a', 'indeterminate'), write(m('h1', 0), 'b', 'acked'));
    const report = await check({ a: [m('h0', 0), m('w0', 0), m('h0', 0), m('w0', 0), m('w0', 0)], b: [m('h1', 0)] }, log);
    expect(report.duplicates).toEqual([
      { marker: m('h0', 0), channel: 'a', count: 2 },
      { marker: m('w0', 0), channel: 'a', count: 3 },
    ]);
    expect(report.lost).toEqual([]);
    expect(report.ok).toBe(false);
  });

  test('a marker stored in another channel is wrong-channel, and lost too when its own channel lacks it', async () => {
    const moved = write(m('h0', 0), 'a', 'acked');
    const copied = write(m('h0', 1), 'a', 'acked');
    const report = await check({ a: [m('h0', 1)], b: [m('h0', 0), m('h0', 1)] }, logOf(moved, copied));
    expect(report.wrongChannel).toEqual([
      { marker: m('h0', 0), wrote: 'a', found: 'b' },
      { marker: m('h0', 1), wrote: 'a', found: 'b' },
    ]);
    expect(report.lost).toEqual([moved]);
    expect(report.duplicates).toEqual([]);
    expect(report.ok).toBe(false);
  });

  test('markers are found inside payload text as whole tokens; a marker that extends another is not it', async () => {
    const log = logOf(write(m('h0', 1), 'a', 'acked'), write(m('h0', 12), 'a', 'acked'), write(m('h0', 3), 'a', 'acked'));
    // Seq 12 and a suffixed seq 3 must not count as seq 1 or seq 3; markers of another writer set are ignored.
    const other = makeMarker(markerPrefix('check-test'), 'h0', 1);
    const report = await check({ a: [`note: "${m('h0', 12)}"!`, `${m('h0', 3)}-copy`, `${m('h0', 3)}9`, other] }, log);
    expect(report.lost.map((w) => w.marker)).toEqual([m('h0', 1), m('h0', 3)]);
    expect(report.duplicates).toEqual([]);
    expect(findMarkers(`[${m('h0', 3)}] and (${m('h1', 4)})`)).toEqual(new Set([m('h0', 3), m('h1', 4)]));
  });

  test('two writer sets of one run id never make the same marker', () => {
    expect(markerPrefix('same-run')).not.toBe(markerPrefix('same-run'));
    expect(markerPrefix('Run #7 / scenario')).toMatch(/^bw-run7scenario-[0-9a-f]{6}$/);
  });
});

describe('checkNothingLost refuses what it cannot check, with a one-line reason', () => {
  test('a write log naming a channel the profile does not return', async () => {
    const err = await check({}, logOf(write(m('h0', 0), 'zzz', 'acked'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BreakwaterError);
    expect(err).toMatchObject({ code: 'BW_USAGE', message: expect.stringContaining('write log names channel "zzz"') });
  });

  test('fewer than two channels', async () => {
    const err = await check({}, logOf(), { channels: () => [CHANNELS[0]!] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BW_PROFILE_INVALID', message: expect.stringContaining('return at least two') });
  });

  test('a profile without integrity', async () => {
    const profile = { name: 'bare' } as Partial<TargetProfile> as TargetProfile;
    const err = await checkNothingLost({ profile, world: {}, baseUrl: 'http://127.0.0.1:9', login: async () => ({}), log: logOf() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BW_PROFILE_INVALID', message: expect.stringContaining('declares no integrity') });
  });
});

// ── the get() handed to history(): a real loopback server ─────────────────────

describe("history's get() reads as the channel's principal", () => {
  let server: Server;
  let baseUrl: string;
  const seen: Array<{ url: string; auth?: string; cookie?: string }> = [];
  /** Answers for /flaky: 503 until it has been asked this many times. */
  let flakyFailures = 0;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      seen.push({ url: req.url!, auth: req.headers.authorization, cookie: req.headers.cookie });
      if (req.url === '/flaky' && flakyFailures-- > 0) return void res.writeHead(503).end('{}');
      if (req.url === '/forbidden') return void res.writeHead(403).end('{"error":"forbidden"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const run = (path: string) =>
    checkNothingLost({
      profile: fakeProfile({}, { history: async ({ get }) => [JSON.stringify(await get(path))] }),
      world: {},
      baseUrl,
      login: async (p) => (p === 'alice' ? { headers: { authorization: 'Bearer alice-token' } } : { cookies: { sid: 'bob-session' } }),
      log: logOf(),
    });

  test('with its credentials, retrying a 5xx until the target answers', async () => {
    seen.length = 0;
    flakyFailures = 2;
    const report = await run('/flaky');
    expect(report.ok).toBe(true);
    expect(seen.filter((s) => s.auth === 'Bearer alice-token')).toHaveLength(3);
    expect(seen.filter((s) => s.cookie === 'sid=bob-session')).toHaveLength(1);
  });

  test('a 4xx is the profile\'s problem, named without credentials', async () => {
    const err = await run('/forbidden').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BW_PROFILE_INVALID', message: 'integrity history: GET /forbidden as alice answered 403; the channel\'s principal must be able to read channel "a" and the route must exist' });
    expect(String((err as Error).message)).not.toContain('alice-token');
  });
});
