import fc from 'fast-check';
import { valueAt, type Path } from './json-path.ts';

export { valueAt, type Path };

/**
 * Mutations of valid payloads, as fast-check arbitraries: a mutation is a
 * small, printable description (the valid base, where it was changed and how),
 * and `materialize()` turns it into the bytes that go on the wire. Shrinking
 * works on the description, so a counterexample stays readable.
 */

/** Mutations that change the payload's structure; whether the result is invalid depends on a schema the profile does not declare. */
export type ShapeClass = 'wrong-type' | 'missing-field' | 'extra-field' | 'deep-nesting' | 'huge-array' | 'proto-key';
export type MutationClass = 'size' | ShapeClass | 'raw-frame';
export type RawKind = 'invalid-utf8' | 'binary' | 'malformed-json' | 'truncated';

export const SHAPE_CLASSES: readonly ShapeClass[] = ['wrong-type', 'missing-field', 'extra-field', 'deep-nesting', 'huge-array', 'proto-key'];

/** Where a size mutation adds its padding: appended to a string leaf, in a new key of an object, or (when the payload is not on the wire) in a new key of the frame itself. */
export type PadSite = { path: Path; newKey: boolean } | 'frame';

export type Mutation =
  | { cls: 'size'; base: unknown; bytes: number; at: PadSite }
  | { cls: ShapeClass; label: string; payload: unknown; dropped?: true }
  | { cls: 'raw-frame'; kind: RawKind; base: unknown; at: number; variant: number };

/** What goes on the wire for one mutation. */
export interface Wire {
  data: string | Buffer;
  binary: boolean;
  /** The payload inside the frame, for matching deliveries (absent for raw frames, which carry no parseable payload). */
  payload?: unknown;
  /** Serialized size in bytes. */
  bytes: number;
}

/** Key of the padding a size mutation adds when it cannot grow a string. */
const PAD_KEY = 'bwPad';
const PROTO_KEYS = ['__proto__', 'constructor'] as const;
const EXTRA_KEYS = ['bwExtra', 'admin', 'role', 'isAdmin', 'tenantId', 'from'] as const;
const INVALID_UTF8: readonly number[][] = [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]];

// ── paths ─────────────────────────────────────────────────────────────────────

type Kind = 'null' | 'array' | 'object' | 'string' | 'number' | 'boolean' | 'undefined';

export function kindOf(v: unknown): Kind {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v as Kind;
}

const isObject = (v: unknown): v is Record<string, unknown> => kindOf(v) === 'object';

/** Every path in `value`, the root ([]) first. */
export function pathsOf(value: unknown, path: Path = []): Path[] {
  const out: Path[] = [path];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...path, i])));
  else if (isObject(value)) for (const k of Object.keys(value)) out.push(...pathsOf(value[k], [...path, k]));
  return out;
}

/** A deep copy with `edit` applied to the container at `path` (the root itself when `path` is empty: `edit` gets a box). */
function editAt(root: unknown, path: Path, edit: (parent: Record<string | number, unknown>, key: string | number) => void): unknown {
  const box: Record<string, unknown> = { root: structuredClone(root) };
  const full: Path = ['root', ...path];
  const parent = valueAt(box, full.slice(0, -1)) as Record<string | number, unknown>;
  edit(parent, full[full.length - 1]!);
  return box.root;
}

export const replaceAt = (root: unknown, path: Path, v: unknown) =>
  editAt(root, path, (parent, key) => {
    parent[key] = v;
  });

export const dropAt = (root: unknown, path: Path) =>
  editAt(root, path, (parent, key) => {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  });

/** Adds `key` as an own, enumerable property (so `__proto__` survives JSON.stringify instead of setting the prototype). */
export const addKeyAt = (root: unknown, path: Path, key: string, v: unknown) =>
  editAt(root, path, (parent, k) => {
    const obj = parent[k] as object;
    Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
  });

function nested(depth: number, kind: 'array' | 'object'): unknown {
  return Array.from({ length: depth }).reduce<unknown>((inner) => (kind === 'array' ? [inner] : { a: inner }), kind === 'array' ? [] : {});
}

const label = (path: Path) => (path.length ? path.join('.') : '(payload)');

// ── arbitraries ───────────────────────────────────────────────────────────────

/** Values of a kind other than `than`'s: numbers, arrays, objects, null (and strings and booleans for non-strings). */
function otherKind(than: unknown): fc.Arbitrary<unknown> {
  return fc
    .oneof(fc.integer(), fc.constantFrom(1e308, -1, 0.5), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }), fc.constant(null), fc.boolean(), fc.string({ maxLength: 10 }))
    .filter((v) => kindOf(v) !== kindOf(than));
}

export interface MutationOptions {
  /** Largest huge array (elements of 0, two bytes each), kept under the size cap so the case tests shape, not size. */
  maxArrayLength: number;
  /** Sizes a size mutation makes the serialized frame, e.g. maxBytes + 1, 4 × maxBytes and 300 KiB. */
  sizes: number[];
  /** Whether the payload reaches the wire at all (an event whose frame ignores its payload: only frame-level padding and raw frames apply). */
  payloadOnWire: boolean;
  /** Raw kinds to generate (an HTTP body cannot be a binary WebSocket frame). */
  rawKinds?: RawKind[];
}

/** Sites of `base` where a mutation of this class can apply. Empty: the class does not apply to this base. */
export function sitesOf(cls: MutationClass, base: unknown): Path[] {
  const all = pathsOf(base);
  switch (cls) {
    case 'missing-field':
      // Dropping the whole payload counts as a missing field too.
      return all;
    case 'extra-field':
    case 'proto-key':
      return all.filter((p) => isObject(valueAt(base, p)));
    default:
      return all;
  }
}

function padSites(base: unknown): PadSite[] {
  return pathsOf(base).flatMap((path): PadSite[] => {
    const v = valueAt(base, path);
    if (typeof v === 'string') return [{ path, newKey: false }];
    if (isObject(v)) return [{ path, newKey: true }];
    return [];
  });
}

/**
 * Mutations of class `cls` of payloads drawn from `valid`. Returns undefined
 * when the class cannot apply (no site in any sample, e.g. an extra field on
 * a string payload).
 */
export function mutationArbitrary(cls: MutationClass, valid: fc.Arbitrary<unknown>, opts: MutationOptions, samples: unknown[]): fc.Arbitrary<Mutation> | undefined {
  if (cls === 'raw-frame') {
    const kinds = opts.rawKinds ?? ['invalid-utf8', 'binary', 'malformed-json', 'truncated'];
    return fc.record({ cls: fc.constant('raw-frame' as const), kind: fc.constantFrom(...kinds), base: valid, at: fc.nat(), variant: fc.nat({ max: 16 }) });
  }
  if (cls === 'size') {
    const sizes = [...new Set(opts.sizes)];
    if (!opts.payloadOnWire) return fc.record({ cls: fc.constant('size' as const), base: valid, bytes: fc.constantFrom(...sizes), at: fc.constant<PadSite>('frame') });
    if (!samples.some((s) => padSites(s).length)) return undefined;
    const base = valid.filter((b) => padSites(b).length > 0);
    return base.chain((b) => fc.record({ cls: fc.constant('size' as const), base: fc.constant(b), bytes: fc.constantFrom(...sizes), at: fc.constantFrom(...padSites(b)) }));
  }
  if (!opts.payloadOnWire) return undefined;
  if (!samples.some((s) => sitesOf(cls, s).length)) return undefined;
  const base = valid.filter((b) => sitesOf(cls, b).length > 0);
  return base.chain((b) => {
    const site = fc.constantFrom(...sitesOf(cls, b));
    const shape = (payload: unknown, what: string): Mutation => ({ cls, label: what, payload });
    switch (cls) {
      case 'wrong-type':
        return site.chain((p) => otherKind(valueAt(b, p)).map((v) => shape(replaceAt(b, p, v), `${label(p)} <- ${kindOf(v)}`)));
      case 'missing-field':
        return site.map((p): Mutation => (p.length ? shape(dropAt(b, p), `${label(p)} dropped`) : { cls, label: 'payload dropped', payload: undefined, dropped: true }));
      case 'extra-field':
        return fc
          .tuple(site, fc.constantFrom(...EXTRA_KEYS), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()))
          .map(([p, k, v]) => shape(addKeyAt(b, p, k, v), `${label(p)}.${k} added`));
      case 'deep-nesting':
        return fc
          .tuple(site, fc.integer({ min: 1000, max: 2000 }), fc.constantFrom('array' as const, 'object' as const))
          .map(([p, depth, kind]) => shape(replaceAt(b, p, nested(depth, kind)), `${label(p)} <- ${depth} nested ${kind}s`));
      case 'huge-array': {
        const max = Math.max(1, opts.maxArrayLength);
        return fc
          .tuple(site, fc.integer({ min: Math.min(1000, max), max }))
          .map(([p, n]) => shape(replaceAt(b, p, new Array<number>(n).fill(0)), `${label(p)} <- array of ${n}`));
      }
      case 'proto-key':
        return fc
          .tuple(site, fc.constantFrom(...PROTO_KEYS), fc.constantFrom<unknown>({ isAdmin: true }, { polluted: 'bw' }, 'bw', null))
          .map(([p, k, v]) => shape(addKeyAt(b, p, k, v), `${label(p)}.${k} added`));
    }
  });
}

// ── materialize ───────────────────────────────────────────────────────────────

const byteLength = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '');

function padded(base: unknown, at: PadSite, n: number): unknown {
  if (at === 'frame') return base;
  const pad = 'x'.repeat(Math.max(0, n));
  if (!at.newKey) return replaceAt(base, at.path, `${valueAt(base, at.path) as string}${pad}`);
  return addKeyAt(base, at.path, PAD_KEY, pad);
}

/**
 * The bytes of one mutation, given how the target wraps a payload into a frame
 * (`frameOf`; identity for an HTTP body). A size mutation is padded to exactly
 * its byte count, measured on the whole frame or (`measure: 'payload'`, where
 * the payload is on the wire) on the payload alone: a string's UTF-8 bytes,
 * anything else's JSON. Undefined when the valid base alone is already larger.
 */
export function materialize(m: Mutation, frameOf: (payload: unknown) => unknown, measure: 'frame' | 'payload' = 'frame'): Wire | undefined {
  if (m.cls === 'size') {
    const build = (n: number) => {
      const payload = padded(m.base, m.at, n);
      const frame = frameOf(payload);
      return { payload, frame: m.at === 'frame' ? addKeyAt(frame, [], PAD_KEY, 'x'.repeat(Math.max(0, n))) : frame };
    };
    const onPayload = measure === 'payload' && m.at !== 'frame';
    const sizeOf = (b: { payload: unknown; frame: unknown }) => (!onPayload ? byteLength(b.frame) : typeof b.payload === 'string' ? Buffer.byteLength(b.payload) : byteLength(b.payload));
    let n = m.bytes - sizeOf(build(0));
    if (n < 0) return undefined;
    // Frames may carry values of varying length (ids): measure again and correct once.
    for (let attempt = 0; attempt < 3; attempt++) {
      const built = build(n);
      const text = JSON.stringify(built.frame);
      const bytes = sizeOf(built);
      if (bytes === m.bytes || attempt === 2) return { data: text, binary: false, payload: m.at === 'frame' ? undefined : built.payload, bytes };
      n += m.bytes - bytes;
      if (n < 0) return undefined;
    }
    return undefined;
  }
  if (m.cls === 'raw-frame') {
    const text = JSON.stringify(frameOf(m.base)) ?? 'null';
    const utf8 = Buffer.from(text, 'utf8');
    switch (m.kind) {
      case 'binary':
        return { data: utf8, binary: true, bytes: utf8.length };
      case 'invalid-utf8': {
        const at = m.at % (utf8.length + 1);
        const data = Buffer.concat([utf8.subarray(0, at), Buffer.from(INVALID_UTF8[m.variant % INVALID_UTF8.length]!), utf8.subarray(at)]);
        return { data, binary: false, bytes: data.length };
      }
      case 'truncated': {
        const data = text.length < 2 ? '' : text.slice(0, 1 + (m.at % (text.length - 1)));
        return { data, binary: false, bytes: Buffer.byteLength(data) };
      }
      case 'malformed-json': {
        const variants = [`${text.slice(0, -1)},}`, `{${text}`, `${text}}`, `{bw:1,${text.slice(1)}`, `${text.slice(0, -1)}, "bw": NaN}`, text.replace(/"/, "'")];
        let data = variants[m.variant % variants.length]!;
        if (parses(data)) data = `${text}}`;
        return { data, binary: false, bytes: Buffer.byteLength(data) };
      }
    }
  }
  const payload = m.cls === 'missing-field' && m.dropped ? undefined : m.payload;
  const text = JSON.stringify(frameOf(payload)) ?? '';
  return { data: text, binary: false, payload, bytes: Buffer.byteLength(text) };
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Whether the frame built for a payload contains the payload at all (some events, e.g. typing, carry none). */
export function payloadOnWire(frameOf: (payload: unknown) => unknown): boolean {
  const marker = 'bw-wire-probe-5c1e';
  return (JSON.stringify(frameOf(marker)) ?? '').includes(marker);
}

// ── the shape of valid payloads ───────────────────────────────────────────────

/** An object path with more distinct keys than this across samples is a dictionary: any keys and values are valid below it. */
const OPEN_OBJECT_KEYS = 8;

/**
 * What valid payloads look like, learnt from samples of the profile's
 * arbitrary: the set of their structural signatures (keys and value kinds;
 * arrays and dictionaries are open). A payload whose signature no sample has is
 * malformed for sure; one that matches may still be invalid (a value out of
 * range), so this errs on the side of "valid".
 */
export class ShapeModel {
  readonly #open = new Set<string>();
  readonly #signatures = new Set<string>();

  constructor(samples: unknown[]) {
    const keys = new Map<string, Set<string>>();
    const collect = (v: unknown, at: string) => {
      if (!isObject(v)) return;
      const set = keys.get(at) ?? new Set();
      keys.set(at, set);
      for (const [k, child] of Object.entries(v)) {
        set.add(k);
        collect(child, `${at}\u0000${k}`);
      }
    };
    for (const s of samples) collect(s, '');
    for (const [at, set] of keys) if (set.size > OPEN_OBJECT_KEYS) this.#open.add(at);
    for (const s of samples) this.#signatures.add(this.signature(s));
  }

  signature(v: unknown, at = ''): string {
    const kind = kindOf(v);
    if (kind === 'array') return 'array';
    if (kind !== 'object') return kind;
    if ([...this.#open].some((o) => at === o || at.startsWith(`${o}\u0000`))) return 'object*';
    const obj = v as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${this.signature(obj[k], `${at}\u0000${k}`)}`)
      .join(',')}}`;
  }

  /** Whether some valid sample has the same structure. */
  validShaped(v: unknown): boolean {
    return this.#signatures.has(this.signature(v));
  }
}
