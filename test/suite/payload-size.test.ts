import { describe, expect, it } from 'vitest';
import { materialize, type Mutation } from '../../harness/suite/payload-mutation.ts';

/** A socket event whose frame wraps the payload in an envelope of its own, as most do. */
const frameOf = (text: unknown) => ({ type: 'post', board: 12345, text });
const size = (bytes: number, base: unknown = 'hello', path: string[] = []): Mutation => ({ cls: 'size', base, bytes, at: { path, newKey: false } }) as Mutation;

describe('a size case measures what the profile says maxBytes measures', () => {
  it('frame (default): the whole frame is exactly maxBytes + 1, so the payload is smaller', () => {
    const w = materialize(size(4097), frameOf)!;
    expect(Buffer.byteLength(w.data as string)).toBe(4097);
    expect(Buffer.byteLength(w.payload as string)).toBeLessThan(4097);
  });

  it('payload: the payload itself is exactly maxBytes + 1, whatever the envelope adds', () => {
    const w = materialize(size(4097), frameOf, 'payload')!;
    expect(Buffer.byteLength(w.payload as string)).toBe(4097);
    expect(w.bytes).toBe(4097);
    expect(Buffer.byteLength(w.data as string)).toBeGreaterThan(4097);
  });

  it('an object payload is measured as its JSON', () => {
    const w = materialize(size(300, { text: 'hi' }, ['text']), (p) => ({ op: 'x', p }), 'payload');
    expect(w && Buffer.byteLength(JSON.stringify(w.payload))).toBe(300);
  });
});
