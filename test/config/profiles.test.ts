import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { BreakwaterError } from '../../harness/errors.ts';
import { resolveTarget } from '../../harness/config/resolve-target.ts';
import type { ProcessService } from '../../harness/config/target.ts';
import chat from '../../profiles/reference-chat.ts';
import notes from '../fixtures/notes/profile.ts';
import { runMatrix } from '../helpers/authz-matrix.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The password the notes profile hands the service for its seeded users. */
const NOTES_PASSWORD = (notes.stack.services.notes as ProcessService).env!.NOTES_SEED_PASSWORD!;

describe('shipped profiles', () => {
  test.each([
    ['reference-chat', chat],
    ['notes-fixture', notes],
  ])('%s passes resolveTarget()', (_, profile) => {
    expect(resolveTarget(profile)).toBe(profile);
  });
});

describe('a malformed profile gets one line that names the field and the rule', () => {
  const base = chat as any;
  const without = (key: string) => Object.fromEntries(Object.entries(base).filter(([k]) => k !== key));
  const cases: [string, unknown, string, string][] = [
    ['missing seed', without('seed'), 'profile.seed', 'must be a function (async (ctx) => world)'],
    [
      'a link to an unknown service',
      { ...base, stack: { ...base.stack, links: [...base.stack.links, { name: 'app-cache', from: 'app', to: 'memcached' }] } },
      'profile.stack.links[3].to',
      'names no service (services: postgres, redis, app)',
    ],
    ['entry naming no link', { ...base, stack: { ...base.stack, entry: 'nowhere' } }, 'profile.stack.entry', 'names no link (links: client-app, app-postgres, app-redis)'],
    [
      'a bot without scopes',
      { ...base, principals: { ...base.principals, acmeReaderBot: { ...base.principals.acmeReaderBot, scopes: undefined } } },
      'profile.principals.acmeReaderBot.scopes',
      'a bot must declare its scopes',
    ],
    // An unknown key is reported on the object that holds it.
    ['an unknown extra field', { ...base, tenancy: 'multi' }, 'profile', 'unknown field "tenancy"'],
    ['egress as naming no principal', { ...base, egress: [{ ...base.egress[0], as: 'nobody' }] }, 'profile.egress[0].as', 'names no principal'],
    ['an unknown ssrf.offHostTargets', { ...base, ssrf: { offHostTargets: 'always' } }, 'profile.ssrf.offHostTargets', 'must be "skip", "allow", or per tier like { nightly: "allow" }'],
    ['a bad SLO window', { ...base, slos: [{ ...base.slos[0], window: 'thirty seconds' }] }, 'profile.slos[0].window', 'must be a duration like "30s" or "5m"'],
  ];

  test.each(cases)('%s', (_, profile, path, rule) => {
    let err: unknown;
    try {
      resolveTarget(profile);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BreakwaterError);
    const e = err as BreakwaterError;
    expect(e.code).toBe('BW_PROFILE_INVALID');
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`invalid target profile ${path}: ${rule}; fix the field and run again`);
    expect(e.message).not.toContain('\n');
  });
});

// ── the notes fixture, a service unlike the reference target ─────────────────

interface Notes {
  url: string;
  stop(): Promise<void>;
}

async function startNotes(flaws = ''): Promise<Notes> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/notes/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', NOTES_FLAWS: flaws, NOTES_SEED_PASSWORD: NOTES_PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`notes exited ${code}: ${out}`)));
    setTimeout(() => reject(new Error(`notes did not start: ${out}`)), 15_000).unref();
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  return { url, stop };
}

async function session(url: string, username: string): Promise<string> {
  const res = await fetch(`${url}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: NOTES_PASSWORD }) });
  expect(res.status).toBe(201);
  const cookie = res.headers.getSetCookie()[0]!;
  expect(cookie).toMatch(/^sid=[^;]+;.*HttpOnly/);
  return cookie.split(';')[0]!;
}

function socket(url: string, cookie?: string): WebSocket {
  return new WebSocket(`${url.replace(/^http/, 'ws')}/live`, { headers: cookie ? { cookie } : {} });
}

/** The next frame on a socket, parsed. */
const nextFrame = (ws: WebSocket) => once(ws, 'message').then(([d]) => JSON.parse(String(d)));

describe('notes fixture service', () => {
  let clean: Notes;
  let flawed: Notes;

  beforeAll(async () => {
    [clean, flawed] = await Promise.all([startNotes(), startNotes('note-read-cross-org')]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([clean?.stop(), flawed?.stop()]);
  });

  test('answers its own API: cookie session, numeric ids, 404 for every denial', async () => {
    const { url } = clean;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/me`)).status).toBe(404);
    const bad = await fetch(`${url}/session`, { method: 'POST', body: JSON.stringify({ username: 'north-lead', password: 'wrong' }) });
    expect(bad.status).toBe(404);

    const northLead = await session(url, 'north-lead');
    const southLead = await session(url, 'south-lead');
    const me = await (await fetch(`${url}/me`, { headers: { cookie: northLead } })).json();
    expect(me).toMatchObject({ userId: 1, orgId: 1, role: 'lead' });

    const created = await fetch(`${url}/orgs/1/notes`, { method: 'POST', headers: { cookie: northLead, 'content-type': 'application/json' }, body: JSON.stringify({ title: 't', text: 'x' }) });
    expect(created.status).toBe(201);
    const note = await created.json();
    expect(Number.isInteger(note.id)).toBe(true);

    expect((await fetch(`${url}/notes/${note.id}`)).status).toBe(404);
    expect((await fetch(`${url}/notes/${note.id}`, { headers: { cookie: northLead } })).status).toBe(200);
    expect((await fetch(`${url}/notes/${note.id}`, { headers: { cookie: southLead } })).status).toBe(404);
    expect((await fetch(`${url}/orgs/1/notes`, { headers: { cookie: southLead } })).status).toBe(404);
    expect((await fetch(`${url}/notes/${note.id}`, { method: 'DELETE', headers: { cookie: southLead } })).status).toBe(404);
  });

  test('its socket joins own-org boards, denies others, and posts only to a board\'s sockets', async () => {
    const { url } = clean;
    const anonymous = socket(url);
    const [, res] = await once(anonymous, 'unexpected-response');
    expect(res.statusCode).toBe(404);

    const north = socket(url, await session(url, 'north-reader'));
    const south = socket(url, await session(url, 'south-reader'));
    await Promise.all([once(north, 'open'), once(south, 'open')]);
    try {
      north.send(JSON.stringify({ op: 'join', board: 2 }));
      expect(await nextFrame(north)).toEqual({ op: 'denied', board: 2 });
      north.send(JSON.stringify({ op: 'join', board: 1 }));
      expect(await nextFrame(north)).toEqual({ op: 'joined', board: 1 });
      south.send(JSON.stringify({ op: 'join', board: 2 }));
      expect(await nextFrame(south)).toEqual({ op: 'joined', board: 2 });

      const southGot: unknown[] = [];
      south.on('message', (d) => southGot.push(JSON.parse(String(d))));
      north.send(JSON.stringify({ op: 'post', board: 1, text: 'hello north' }));
      expect(await nextFrame(north)).toMatchObject({ op: 'posted', board: 1, text: 'hello north' });
      north.send(JSON.stringify({ op: 'post', board: 2, text: 'sneaky' }));
      expect(await nextFrame(north)).toEqual({ op: 'denied', board: 2 });
      expect(southGot).toEqual([]);
    } finally {
      north.close();
      south.close();
    }
  });

  test('note-read-cross-org flips the cross-org read from 404 to 200', async () => {
    const read = async ({ url }: Notes) => {
      const author = await session(url, 'north-reader');
      const other = await session(url, 'south-reader');
      const note = await (await fetch(`${url}/orgs/1/notes`, { method: 'POST', headers: { cookie: author, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'secret' }) })).json();
      return (await fetch(`${url}/notes/${note.id}`, { headers: { cookie: other } })).status;
    };
    expect(await read(clean)).toBe(404);
    expect(await read(flawed)).toBe(200);
  });

  test('its profile seeds, logs in and holds every matrix cell; the flaw breaks only cross-org reads', async () => {
    const good = await runMatrix(notes, clean.url, 'notes-clean');
    expect(good.cells.length).toBe(4 * 5);
    expect(good.mismatches).toEqual([]);

    const bad = await runMatrix(notes, flawed.url, 'notes-flawed');
    expect(bad.mismatches).toEqual(['southLead read note: expected deny, got 200', 'southReader read note: expected deny, got 200']);
  });
});
