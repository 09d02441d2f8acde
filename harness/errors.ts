/**
 * Every error a user can act on is a BreakwaterError: a stable `code`, a
 * one-line message that names the subject, the rule and the fix, and the exit
 * code the CLI uses for it.
 */
export type ErrorCode =
  | 'BW_USAGE'
  | 'BW_CONFIG_NOT_FOUND'
  | 'BW_CONFIG_INVALID'
  | 'BW_PROFILE_INVALID'
  | 'BW_TARGET_NOT_ALLOWED'
  | 'BW_TARGET_UNREACHABLE'
  | 'BW_TOOL_MISSING'
  | 'BW_SETUP_FAILED'
  | 'BW_STACK_START_FAILED'
  | 'BW_STACK_FAULT'
  | 'BW_SUITES_FAILED_TO_RUN'
  | 'BW_INTERRUPTED'
  | 'BW_KEY_INVALID'
  | 'BW_EVIDENCE_MISSING'
  | 'BW_EVIDENCE_TRUNCATED'
  | 'BW_EVIDENCE_MALFORMED'
  | 'BW_EVIDENCE_UNSIGNED'
  | 'BW_EVIDENCE_BAD_SIGNATURE'
  | 'BW_EVIDENCE_UNTRUSTED_KEY'
  | 'BW_EVIDENCE_PAYLOAD_TYPE'
  | 'BW_EVIDENCE_PREDICATE'
  | 'BW_EVIDENCE_SUBJECT'
  | 'BW_EVIDENCE_MERGE_MISMATCH'
  | 'BW_EVIDENCE_WRITE_FAILED';

/** Exit codes of the CLI. */
export const EXIT = { pass: 0, blocked: 1, usage: 2, infra: 3, interrupted: 130 } as const;

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  BW_USAGE: EXIT.usage,
  BW_CONFIG_NOT_FOUND: EXIT.usage,
  BW_CONFIG_INVALID: EXIT.usage,
  BW_PROFILE_INVALID: EXIT.usage,
  BW_TARGET_NOT_ALLOWED: EXIT.usage,
  BW_TARGET_UNREACHABLE: EXIT.infra,
  BW_TOOL_MISSING: EXIT.infra,
  BW_SETUP_FAILED: EXIT.infra,
  BW_STACK_START_FAILED: EXIT.infra,
  BW_STACK_FAULT: EXIT.infra,
  BW_SUITES_FAILED_TO_RUN: EXIT.infra,
  BW_INTERRUPTED: EXIT.interrupted,
  // A bad --key is a usage error; evidence that fails verification fails closed (exit 1, like a blocking finding).
  BW_KEY_INVALID: EXIT.usage,
  BW_EVIDENCE_MISSING: EXIT.blocked,
  BW_EVIDENCE_TRUNCATED: EXIT.blocked,
  BW_EVIDENCE_MALFORMED: EXIT.blocked,
  BW_EVIDENCE_UNSIGNED: EXIT.blocked,
  BW_EVIDENCE_BAD_SIGNATURE: EXIT.blocked,
  BW_EVIDENCE_UNTRUSTED_KEY: EXIT.blocked,
  BW_EVIDENCE_PAYLOAD_TYPE: EXIT.blocked,
  BW_EVIDENCE_PREDICATE: EXIT.blocked,
  BW_EVIDENCE_SUBJECT: EXIT.blocked,
  BW_EVIDENCE_MERGE_MISMATCH: EXIT.blocked,
  BW_EVIDENCE_WRITE_FAILED: EXIT.infra,
};

export class BreakwaterError extends Error {
  readonly exitCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BreakwaterError';
    this.exitCode = EXIT_BY_CODE[code];
  }
}

/** The first line of any error's message, for one-line reports. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}
