import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssue } from '../config/resolve-target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import type { Finding } from '../run/result.ts';

/**
 * A waiver: an accepted risk, for a while. It names the findings it covers by
 * `finding` (an exact id) and/or a pattern (`check` or `subject` globs, an
 * `idPrefix`); every selector given must match. It holds until `expires`.
 */
export interface Waiver {
  finding?: string;
  /** Glob over the finding's check id, e.g. `abuse.*`. `*` is any text, `?` one character. */
  check?: string;
  /** Glob over the finding's subject, e.g. `GET /uploads/*`. */
  subject?: string;
  idPrefix?: string;
  reason: string;
  owner: string;
  approver: string;
  /** ISO date or date-time. A date alone holds through that day (UTC). */
  expires: string;
}

/** A waiver as the gate reads it: where it is in its file and the instant it stops holding. */
export interface LoadedWaiver extends Waiver {
  index: number;
  expiresAt: number;
}

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const text = z.string().trim().min(1, 'must not be empty');

const waiverSchema = z
  .object({
    finding: text.optional(),
    check: text.optional(),
    subject: text.optional(),
    idPrefix: text.optional(),
    reason: text,
    owner: text,
    approver: text,
    expires: z.string().refine((s) => ISO.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO date, e.g. "2026-12-31" or "2026-12-31T18:00:00Z"'),
  })
  .strict()
  .refine((w) => w.finding || w.check || w.subject || w.idPrefix, 'needs a finding id ("finding") or a pattern ("check", "subject" or "idPrefix")');

const fileSchema = z.union([z.object({ waivers: z.array(waiverSchema) }).strict(), z.array(waiverSchema)]);

/** The instant a waiver stops holding: a date alone holds through that day, UTC. */
function expiryInstant(expires: string): number {
  return /^\d{4}-\d{2}-\d{2}$/.test(expires) ? Date.parse(`${expires}T00:00:00Z`) + 86_400_000 : Date.parse(expires);
}

/** Validates the waivers of a parsed file; `source` names the file in messages. Throws BW_USAGE (exit 2) naming the field. */
export function resolveWaivers(raw: unknown, source: string): LoadedWaiver[] {
  if (raw === null || raw === undefined) throw new BreakwaterError('BW_USAGE', `waiver file ${source} is empty; write \`waivers: []\` or drop --waivers`);
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    // The union reports both branches; the object form is the documented one, so name its issue.
    const objectForm = Array.isArray(raw) ? z.array(waiverSchema).safeParse(raw) : z.object({ waivers: z.array(waiverSchema) }).strict().safeParse(raw);
    const issue = (objectForm.success ? parsed.error : objectForm.error).issues[0]!;
    throw new BreakwaterError('BW_USAGE', `invalid waiver file ${source}: ${describeIssue(Array.isArray(raw) ? 'waivers' : '', issue).replace(/^\./, '')}`);
  }
  const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.waivers;
  return list.map((w, index) => ({ ...w, index, expiresAt: expiryInstant(w.expires) }));
}

/** Reads a waiver file: JSON when it ends in .json, else YAML. */
export function loadWaivers(path: string, cwd = process.cwd()): LoadedWaiver[] {
  const abs = resolve(cwd, path);
  let body: string;
  try {
    body = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BreakwaterError('BW_USAGE', code === 'ENOENT' ? `waiver file ${abs} does not exist` : `waiver file ${abs} cannot be read (${code ?? oneLine(err)})`);
  }
  let raw: unknown;
  try {
    raw = extname(abs).toLowerCase() === '.json' ? JSON.parse(body) : parseYaml(body);
  } catch (err) {
    throw new BreakwaterError('BW_USAGE', `waiver file ${abs} is not valid ${extname(abs).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${oneLine(err)}`);
  }
  return resolveWaivers(raw, abs);
}

/** `*` is any run of characters, `?` one character; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/** Whether every selector the waiver gives matches the finding. */
export function waiverMatches(w: Waiver, f: Pick<Finding, 'id' | 'check' | 'subject'>): boolean {
  if (w.finding !== undefined && w.finding !== f.id) return false;
  if (w.idPrefix !== undefined && !f.id.startsWith(w.idPrefix)) return false;
  if (w.check !== undefined && !globToRegExp(w.check).test(f.check)) return false;
  if (w.subject !== undefined && !globToRegExp(w.subject).test(f.subject)) return false;
  return true;
}

/** What a waiver selects, for messages: `finding 1a2b…`, `check abuse.*`, … */
export function describeWaiver(w: Waiver): string {
  const parts = [w.finding && `finding ${w.finding}`, w.idPrefix && `id ${w.idPrefix}*`, w.check && `check ${w.check}`, w.subject && `subject ${w.subject}`].filter(Boolean);
  return parts.join(', ');
}

export function isExpired(w: LoadedWaiver, now: Date): boolean {
  return now.getTime() >= w.expiresAt;
}

/** The waiver (unexpired, first in file order) that waives a finding at `now`, if any. */
export function activeWaiverFor(waivers: LoadedWaiver[], f: Pick<Finding, 'id' | 'check' | 'subject'>, now: Date): LoadedWaiver | undefined {
  return waivers.find((w) => !isExpired(w, now) && waiverMatches(w, f));
}
