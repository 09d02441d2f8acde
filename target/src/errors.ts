/** An error that maps to an HTTP status and a stable error code in the response body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const unauthorized = (msg = 'authentication required') => new HttpError(401, 'unauthorized', msg);
export const forbidden = (msg = 'forbidden') => new HttpError(403, 'forbidden', msg);
export const notFound = (msg = 'not found') => new HttpError(404, 'not_found', msg);
export const badRequest = (msg: string, code = 'bad_request') => new HttpError(400, code, msg);
export const conflict = (msg: string) => new HttpError(409, 'conflict', msg);
/** A dependency (Postgres or Redis) timed out or is down: the client should retry. */
export const unavailable = (what: string) =>
  new HttpError(503, 'dependency_unavailable', `${what} is unavailable, retry later`, { 'retry-after': '1' });
