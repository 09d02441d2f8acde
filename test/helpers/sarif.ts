import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import ajvFormats from 'ajv-formats';

// ajv-formats is CommonJS: under NodeNext the default import is module.exports, which carries the plugin as `default`.
const addFormats = ajvFormats.default;

const schema = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/sarif/sarif-schema-2.1.0.json'), 'utf8')) as Record<string, unknown>;

let validate: ReturnType<Ajv['compile']> | undefined;

/** Validates a SARIF log against the official SARIF 2.1.0 JSON schema (draft-07); returns the errors, empty when valid. */
export function sarifSchemaErrors(log: unknown): ErrorObject[] {
  if (!validate) {
    const ajv = new Ajv({ allErrors: true });
    addFormats(ajv);
    validate = ajv.compile(schema);
  }
  return validate(log) ? [] : [...(validate.errors ?? [])];
}
