import type { RawData } from 'ws';

/** Largest frame a socket accepts; ws closes the socket with 1009 above it. */
export const MAX_FRAME_BYTES = 256 * 1024;
/** The `maxPayload` used when the `no-payload-cap` flaw is on. */
export const UNCAPPED_FRAME_BYTES = 16 * 1024 * 1024;
/** Largest serialized `preset.share` frame. */
export const MAX_PRESET_FRAME_BYTES = 64 * 1024;
/** Largest serialized `rtc.signal` frame. */
export const MAX_RTC_FRAME_BYTES = 16 * 1024;

const MAX_REF_LENGTH = 128;
const MAX_BODY_LENGTH = 4000;
const MAX_CLIENT_ID_LENGTH = 128;
const MAX_PRESET_NAME_LENGTH = 100;
const MAX_SDP_LENGTH = 16 * 1024;
const MAX_CANDIDATE_LENGTH = 2 * 1024;
const MAX_SDP_MID_LENGTH = 64;
const MAX_SDP_MLINE_INDEX = 64;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const FRAME_TYPES = ['subscribe', 'unsubscribe', 'message.send', 'typing', 'rtc.signal', 'preset.share'] as const;
export type FrameType = (typeof FRAME_TYPES)[number];

/** A client-chosen correlation id, echoed in every reply to its frame. */
export type Ref = string | number;

export type ErrorCode = 'bad_frame' | 'validation_failed' | 'forbidden' | 'payload_too_large' | 'rate_limited' | 'unavailable';

/** A frame that cannot be processed; `code` is what the client gets in its `error` reply. */
export class FrameError extends Error {
  constructor(
    readonly code: 'bad_frame' | 'validation_failed' | 'payload_too_large',
    message: string,
    readonly ref?: Ref,
  ) {
    super(message);
  }
}

/** A JSON object with a known `type`, not yet validated against that type's shape. */
export interface Envelope {
  type: FrameType;
  ref?: Ref;
  fields: Record<string, unknown>;
  /** Size of the frame as received, in bytes. */
  bytes: number;
}

export type RtcSignal = { kind: 'offer' | 'answer'; sdp: string } | { kind: 'ice'; candidate: string; sdpMid?: string; sdpMLineIndex?: number };

export interface PresetPayload {
  name: string;
  data: Record<string, unknown>;
}

/** A client frame that passed validation for its type. */
export type ClientFrame =
  | { type: 'subscribe'; ref?: Ref; channelId: string }
  | { type: 'unsubscribe'; ref?: Ref; channelId: string }
  | { type: 'message.send'; ref?: Ref; channelId: string; body: string; clientId: string | null }
  | { type: 'typing'; ref?: Ref; channelId: string }
  | { type: 'rtc.signal'; ref?: Ref; channelId: string; to: string; signal: unknown }
  | { type: 'preset.share'; ref?: Ref; channelId: string; preset: PresetPayload };

/** Which checks a deployment leaves out (flaw switches). */
export interface FrameChecks {
  capPresetSize: boolean;
  checkRtcShape: boolean;
}

export function rawSize(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/** Decodes one WebSocket message into an envelope, or a `bad_frame` error. Never throws. */
export function decodeFrame(data: RawData, isBinary: boolean): Envelope | FrameError {
  if (isBinary) return new FrameError('bad_frame', 'binary frames are not accepted; send JSON text');
  let value: unknown;
  try {
    value = JSON.parse(rawText(data));
  } catch {
    return new FrameError('bad_frame', 'frame is not valid JSON');
  }
  return envelopeOf(value, rawSize(data));
}

/**
 * The regression behind `crash-on-malformed-frame`: the frame is parsed in a
 * later tick with nothing around it to catch a SyntaxError, so one non-JSON
 * frame becomes an uncaught exception that ends the process.
 */
export function decodeFrameLater(data: RawData, then: (decoded: Envelope | FrameError) => void): void {
  const text = rawText(data);
  const bytes = rawSize(data);
  setImmediate(() => then(envelopeOf(JSON.parse(text), bytes)));
}

/** Checks that a parsed value is an object with a known `type` and a usable `ref`. Never throws. */
export function envelopeOf(value: unknown, bytes: number): Envelope | FrameError {
  if (!isPlainObject(value)) return new FrameError('bad_frame', 'frame must be a JSON object');
  const ref = value.ref;
  const refOk = ref === undefined || (typeof ref === 'string' && ref.length <= MAX_REF_LENGTH) || (typeof ref === 'number' && Number.isFinite(ref));
  const type = value.type;
  if (typeof type !== 'string' || !(FRAME_TYPES as readonly string[]).includes(type)) {
    return new FrameError('bad_frame', `unknown frame type; expected one of ${FRAME_TYPES.join(', ')}`, refOk ? (ref as Ref | undefined) : undefined);
  }
  if (!refOk) return new FrameError('validation_failed', `ref must be a string of at most ${MAX_REF_LENGTH} characters or a finite number`);
  return { type: type as FrameType, ref: ref as Ref | undefined, fields: value, bytes };
}

/** Validates an envelope against the shape of its type. Throws FrameError (`validation_failed` or `payload_too_large`). */
export function validateFrame(env: Envelope, checks: FrameChecks): ClientFrame {
  const f = env.fields;
  const ref = env.ref;
  const fail = (message: string) => new FrameError('validation_failed', message, ref);
  const channelId = uuid(f.channelId, 'channelId', fail);
  switch (env.type) {
    case 'subscribe':
    case 'unsubscribe':
    case 'typing':
      return { type: env.type, ref, channelId };
    case 'message.send': {
      const body = f.body;
      if (typeof body !== 'string' || body.length < 1 || body.length > MAX_BODY_LENGTH) throw fail(`body must be a string of 1..${MAX_BODY_LENGTH} characters`);
      const clientId = f.clientId;
      if (clientId !== undefined && (typeof clientId !== 'string' || clientId.length < 1 || clientId.length > MAX_CLIENT_ID_LENGTH)) {
        throw fail(`clientId must be a string of 1..${MAX_CLIENT_ID_LENGTH} characters`);
      }
      return { type: 'message.send', ref, channelId, body, clientId: clientId ?? null };
    }
    case 'rtc.signal': {
      const to = uuid(f.to, 'to', fail);
      if (checks.checkRtcShape) {
        if (env.bytes > MAX_RTC_FRAME_BYTES) throw new FrameError('payload_too_large', `rtc.signal frames are limited to ${MAX_RTC_FRAME_BYTES} bytes`, ref);
        rtcSignal(f.signal, fail);
      }
      return { type: 'rtc.signal', ref, channelId, to, signal: f.signal };
    }
    case 'preset.share': {
      if (checks.capPresetSize && env.bytes > MAX_PRESET_FRAME_BYTES) {
        throw new FrameError('payload_too_large', `preset.share frames are limited to ${MAX_PRESET_FRAME_BYTES} bytes`, ref);
      }
      const preset = f.preset;
      if (!isPlainObject(preset) || !onlyKeys(preset, ['name', 'data'])) throw fail('preset must be an object {name, data} with no other keys');
      const { name, data } = preset;
      if (typeof name !== 'string' || name.length < 1 || name.length > MAX_PRESET_NAME_LENGTH) throw fail(`preset.name must be a string of 1..${MAX_PRESET_NAME_LENGTH} characters`);
      if (!isPlainObject(data)) throw fail('preset.data must be a JSON object');
      return { type: 'preset.share', ref, channelId, preset: { name, data } };
    }
  }
}

function rtcSignal(signal: unknown, fail: (message: string) => FrameError): RtcSignal {
  if (!isPlainObject(signal)) throw fail('signal must be an object');
  if (signal.kind === 'offer' || signal.kind === 'answer') {
    if (!onlyKeys(signal, ['kind', 'sdp'])) throw fail('an offer or answer signal has exactly the keys kind and sdp');
    if (typeof signal.sdp !== 'string' || signal.sdp.length > MAX_SDP_LENGTH) throw fail(`signal.sdp must be a string of at most ${MAX_SDP_LENGTH} characters`);
    return { kind: signal.kind, sdp: signal.sdp };
  }
  if (signal.kind === 'ice') {
    if (!onlyKeys(signal, ['kind', 'candidate', 'sdpMid', 'sdpMLineIndex'])) throw fail('an ice signal has only the keys kind, candidate, sdpMid and sdpMLineIndex');
    const { candidate, sdpMid, sdpMLineIndex } = signal;
    if (typeof candidate !== 'string' || candidate.length > MAX_CANDIDATE_LENGTH) throw fail(`signal.candidate must be a string of at most ${MAX_CANDIDATE_LENGTH} characters`);
    if (sdpMid !== undefined && (typeof sdpMid !== 'string' || sdpMid.length > MAX_SDP_MID_LENGTH)) throw fail(`signal.sdpMid must be a string of at most ${MAX_SDP_MID_LENGTH} characters`);
    if (sdpMLineIndex !== undefined && (!Number.isInteger(sdpMLineIndex) || (sdpMLineIndex as number) < 0 || (sdpMLineIndex as number) > MAX_SDP_MLINE_INDEX)) {
      throw fail(`signal.sdpMLineIndex must be an integer in 0..${MAX_SDP_MLINE_INDEX}`);
    }
    return { kind: 'ice', candidate, sdpMid: sdpMid as string | undefined, sdpMLineIndex: sdpMLineIndex as number | undefined };
  }
  throw fail('signal.kind must be offer, answer or ice');
}

function uuid(value: unknown, field: string, fail: (message: string) => FrameError): string {
  if (typeof value !== 'string' || !UUID.test(value)) throw fail(`${field} must be a UUID`);
  return value.toLowerCase();
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(obj: Record<string, unknown>, allowed: string[]): boolean {
  return Object.keys(obj).every((k) => allowed.includes(k));
}
