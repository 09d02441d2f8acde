import { describe, expect, test } from 'vitest';
import { resolveTarget } from '../../harness/config/resolve-target.ts';
import { BreakwaterError } from '../../harness/errors.ts';
import chat from '../../profiles/reference-chat.ts';
import notes from '../fixtures/notes/profile.ts';

describe('profile.integrity is optional and validated when present', () => {
  test('the reference profile declares it and passes; the notes fixture has none and passes', () => {
    expect(chat.integrity).toBeDefined();
    expect(resolveTarget(chat)).toBe(chat);
    expect(notes.integrity).toBeUndefined();
    expect(resolveTarget(notes)).toBe(notes);
  });

  const base = chat as any;
  const withIntegrity = (integrity: unknown, rest: Record<string, unknown> = {}) => ({ ...base, ...rest, integrity });
  const cases: [string, unknown, string, string][] = [
    ['history that is not a function', withIntegrity({ ...base.integrity, history: '/messages' }), 'profile.integrity.history', 'must be a function (async (ctx) => payload texts)'],
    ['no way to write', withIntegrity({ channels: base.integrity.channels, history: base.integrity.history }), 'profile.integrity', 'must declare a way to write: http, realtime or both'],
    ['an http path without a leading slash', withIntegrity({ ...base.integrity, http: { ...base.integrity.http, path: 'tenants/x' } }), 'profile.integrity.http.path', 'must start with "/"'],
    ['an http method that cannot append', withIntegrity({ ...base.integrity, http: { ...base.integrity.http, method: 'GET' } }), 'profile.integrity.http.method', 'Invalid option: expected one of "POST"|"PUT"'],
    ['a realtime reply check that is not a function', withIntegrity({ ...base.integrity, realtime: { ...base.integrity.realtime, acked: true } }), 'profile.integrity.realtime.acked', 'must be a function ((frame, ref) => boolean)'],
    ['an unknown field', withIntegrity({ ...base.integrity, batch: 10 }), 'profile.integrity', 'unknown field "batch"'],
    ['realtime writes without the profile\'s realtime', withIntegrity(base.integrity, { realtime: undefined }), 'profile.integrity.realtime', "needs the profile's realtime (its path and auth) to connect"],
  ];

  test.each(cases)('%s gets one line naming the field', (_, profile, path, rule) => {
    let err: unknown;
    try {
      resolveTarget(profile);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BreakwaterError);
    expect((err as BreakwaterError).message).toBe(`invalid target profile ${path}: ${rule}; fix the field and run again`);
  });
});
