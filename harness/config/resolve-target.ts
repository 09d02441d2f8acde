import type { z } from 'zod';
import { BreakwaterError } from '../errors.ts';
import type { TargetProfile } from './target.ts';
import { targetProfileSchema } from './target-schema.ts';

/** Formats the first validation issue as `<root>.<path>: <rule>`. */
export function describeIssue(root: string, issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  else if (issue.code === 'invalid_type' && /received undefined/.test(msg)) msg = `is required (${issue.expected})`;
  return `${root}${path}: ${msg}`;
}

/**
 * Validates a profile eagerly. Throws BW_PROFILE_INVALID with a one-line
 * message that names the field and the rule.
 */
export function resolveTarget(profile: unknown, source = 'profile'): TargetProfile {
  if (!profile || typeof profile !== 'object') {
    throw new BreakwaterError('BW_PROFILE_INVALID', `${source}: must export a profile object made with defineTarget()`);
  }
  const parsed = targetProfileSchema.safeParse(profile);
  if (!parsed.success) {
    throw new BreakwaterError('BW_PROFILE_INVALID', `invalid target profile ${describeIssue(source, parsed.error.issues[0]!)}; fix the field and run again`);
  }
  return profile as TargetProfile;
}
