import { randomUUID } from 'node:crypto';

/** What one HTTP call returned: status, headers, parsed JSON body (or text), and the raw bytes. */
export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is labelled and parses as JSON, the text otherwise, undefined when empty. */
  body: T;
  bytes: Buffer;
}

export interface CallOptions {
  /** Bearer token sent as `Authorization`. */
  token?: string;
  /** Sent as JSON with `content-type: application/json`. */
  json?: unknown;
  /** Sent as is (e.g. upload bytes); set `content-type` in `headers` yourself. */
  body?: Buffer | string;
  headers?: Record<string, string>;
}

/** Calls the target at `baseUrl`. Never throws on an HTTP error status; the status is in the result. */
export async function call<T = any>(baseUrl: string, method: string, path: string, opts: CallOptions = {}): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: BodyInit | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : new Uint8Array(opts.body);
  }
  const res = await fetch(baseUrl + path, { method, headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString('utf8');
  let parsed: unknown = text === '' ? undefined : text;
  if (text !== '' && (res.headers.get('content-type') ?? '').includes('application/json')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not every body labelled JSON is JSON (a downloaded upload, say); keep the text.
    }
  }
  return { status: res.status, headers: res.headers, body: parsed as T, bytes };
}

/** A client bound to one base URL and, optionally, one token. `as(token)` gives the same client for another principal. */
export interface Client {
  baseUrl: string;
  token?: string;
  get<T = any>(path: string, opts?: CallOptions): Promise<HttpResult<T>>;
  post<T = any>(path: string, json?: unknown, opts?: CallOptions): Promise<HttpResult<T>>;
  put<T = any>(path: string, json?: unknown, opts?: CallOptions): Promise<HttpResult<T>>;
  patch<T = any>(path: string, json?: unknown, opts?: CallOptions): Promise<HttpResult<T>>;
  delete<T = any>(path: string, opts?: CallOptions): Promise<HttpResult<T>>;
  as(token: string | undefined): Client;
}

export function client(baseUrl: string, token?: string): Client {
  const withToken = (opts: CallOptions = {}): CallOptions => ({ token, ...opts });
  return {
    baseUrl,
    token,
    get: (path, opts) => call(baseUrl, 'GET', path, withToken(opts)),
    post: (path, json, opts) => call(baseUrl, 'POST', path, withToken({ json, ...opts })),
    put: (path, json, opts) => call(baseUrl, 'PUT', path, withToken({ json, ...opts })),
    patch: (path, json, opts) => call(baseUrl, 'PATCH', path, withToken({ json, ...opts })),
    delete: (path, opts) => call(baseUrl, 'DELETE', path, withToken(opts)),
    as: (other) => client(baseUrl, other),
  };
}

/** A registered, logged-in user and a client that acts as them. */
export interface TestUser {
  userId: string;
  email: string;
  password: string;
  displayName: string;
  token: string;
  api: Client;
}

/** Registers a user with a unique email (prefix it to find them in searches) and logs them in. Throws on any non-2xx. */
export async function registerAndLogin(baseUrl: string, opts: { displayName?: string; emailPrefix?: string } = {}): Promise<TestUser> {
  const id = randomUUID().slice(0, 8);
  const email = `${opts.emailPrefix ?? 'user'}-${id}@example.test`;
  const password = `pw-${randomUUID()}`;
  const displayName = opts.displayName ?? `User ${id}`;
  const reg = await call(baseUrl, 'POST', '/auth/register', { json: { email, password, displayName } });
  if (reg.status !== 201) throw new Error(`register ${email}: ${reg.status} ${JSON.stringify(reg.body)}`);
  const login = await call(baseUrl, 'POST', '/auth/login', { json: { email, password } });
  if (login.status !== 200) throw new Error(`login ${email}: ${login.status} ${JSON.stringify(login.body)}`);
  const token = login.body.accessToken as string;
  return { userId: reg.body.userId, email, password, displayName, token, api: client(baseUrl, token) };
}

/** Creates a tenant owned by `owner`; returns its id. */
export async function createTenant(owner: TestUser, name = `tenant-${randomUUID().slice(0, 8)}`): Promise<string> {
  const res = await owner.api.post('/tenants', { name });
  if (res.status !== 201) throw new Error(`create tenant: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.tenantId;
}

/** Adds an existing user to a tenant with a role, acting as an admin or owner. */
export async function addMember(admin: TestUser, tenantId: string, user: Pick<TestUser, 'email'>, role: 'admin' | 'member' | 'guest' = 'member'): Promise<void> {
  const res = await admin.api.post(`/tenants/${tenantId}/members`, { email: user.email, role });
  if (res.status !== 201) throw new Error(`add member: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Creates a channel in a tenant; returns its id. */
export async function createChannel(user: TestUser, tenantId: string, opts: { name?: string; private?: boolean } = {}): Promise<string> {
  const res = await user.api.post(`/tenants/${tenantId}/channels`, { name: opts.name ?? `ch-${randomUUID().slice(0, 6)}`, private: opts.private ?? false });
  if (res.status !== 201) throw new Error(`create channel: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.channelId;
}
