import pino, { type DestinationStream, type Logger } from 'pino';
import type { TargetConfig } from '../config.ts';

/** Removes credentials from a URL's query string before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|password)=)[^&]*/gi, '$1[REDACTED]');
}

/**
 * Structured JSON logs. Authorization headers, cookies, passwords and tokens
 * are redacted wherever they appear.
 */
export function createLogger(config: TargetConfig, destination?: DestinationStream): Logger {
  const leak = config.flaws.has('token-in-logs');
  return pino(
    {
      level: config.logLevel,
      base: { service: 'reference-target' },
      redact: leak
        ? []
        : {
            paths: ['req.headers.authorization', 'req.headers.cookie', 'password', '*.password', 'token', '*.token', 'accessToken', '*.accessToken'],
            censor: '[REDACTED]',
          },
      serializers: {
        req: (req: { method: string; url: string; headers: Record<string, string> }) => ({
          method: req.method,
          url: leak ? req.url : redactUrl(req.url),
          headers: leak ? { authorization: req.headers.authorization } : undefined,
        }),
      },
    },
    destination,
  );
}
