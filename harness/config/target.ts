import type { Arbitrary } from 'fast-check';
import type { Span } from './scenario.ts';

/**
 * A target profile: everything Breakwater needs to know about a service to
 * attack its boundaries, and nothing about how the service works inside.
 * Suites read only this. Write one per service with `defineTarget()`.
 */
export interface TargetProfile<World = any> {
  /** Short name, used in reports and finding subjects. */
  name: string;
  description?: string;
  /** How the stack is started and wired through Toxiproxy. */
  stack: StackDefinition;
  /**
   * Creates what the suites need (tenants, users, rooms...) through the
   * target's public API, once per started stack. The returned world is handed
   * to `login()`, `create()` and policies. Must be idempotent per run id.
   */
  seed(ctx: SeedContext): Promise<World>;
  /** Named actors. */
  principals: Record<string, PrincipalDefinition<World>>;
  /** What the actors may or may not touch. */
  resources: Record<string, ResourceDefinition<World>>;
  /** Which responses count as "denied". */
  deny: DenyOracle;
  realtime?: RealtimeDefinition<World>;
  /** Endpoints that fetch a URL given by the caller: SSRF surfaces. */
  egress?: EgressEndpoint<World>[];
  /** How far the SSRF suite may go off a sealed network. */
  ssrf?: SsrfOptions;
  slos: SloDefinition[];
  /** Values that must never appear in any output; tokens seen at login are added automatically. */
  secrets?: { values?: string[]; pii?: string[] };
  /** How the target's tokens are made, so token tampering can forge them. Absent: only generic tampering. */
  tokens?: TokenDefinition<World>;
  /** Declared HTTP rate limits (e.g. login attempts), checked by the abuse suite. */
  httpLimits?: HttpLimit<World>[];
  /** Routes that may be served from a per-tenant cache: warmed as one tenant, replayed against another. */
  cache?: { paths(world: World): Array<{ tenant: string; path: string }> };
  /** Severity per check id, overriding the defaults. */
  severity?: Record<string, Severity>;
  /**
   * How to append uniquely marked items to channels and read every channel's
   * history back: the nothing-lost checker writes through faults and reports
   * acknowledged writes that are missing, stored twice, or stored in another channel.
   */
  integrity?: IntegrityDefinition<World>;
  /**
   * Recovery objectives, judged by the backup-and-restore drill. `rto`: the
   * longest acceptable time from the disaster until the service is ready again
   * and acknowledges a write. `rpo`: the longest acceptable span of
   * acknowledged writes that a restore may lose. Over either, the drill fails
   * (`drill.rto-exceeded`, `drill.rpo-exceeded`).
   */
  recovery?: { rto: Span; rpo: Span };
}

export type Severity = 'critical' | 'high' | 'medium' | 'low';

// ── stack ─────────────────────────────────────────────────────────────────────

export interface StackDefinition {
  services: Record<string, ServiceDefinition>;
  /**
   * Every network link, each one a Toxiproxy proxy. `from: 'client'` is the
   * harness itself; the other ends name services.
   */
  links: LinkDefinition[];
  /** The link that clients (the suites, k6) use to reach the app. */
  entry: string;
}

export type ServiceDefinition = PostgresService | RedisService | ProcessService;

export interface PostgresService {
  kind: 'postgres';
  /** Database created at start. */
  database: string;
  /** Image for the compose provider. */
  image?: string;
}

export interface RedisService {
  kind: 'redis';
  image?: string;
}

export interface ProcessService {
  kind: 'process';
  /** argv, run from `cwd` (relative to the config file's directory). */
  command: string[];
  cwd?: string;
  /**
   * Environment. Values may use templates: `{{port}}` (this service's port),
   * `{{link:NAME}}` (host:port of a link's listening end), `{{secret:NAME}}`
   * (a random value generated per run and treated as a secret).
   */
  env?: Record<string, string>;
  /** Variables copied from the harness's environment when set (e.g. TARGET_FLAWS). */
  passEnv?: string[];
  /** HTTP readiness check on this service's port. */
  health: { path: string; timeoutMs?: number };
  /** For the compose provider: the Docker build of this service and the port it listens on inside. */
  build?: { context: string; dockerfile: string };
  containerPort?: number;
}

export interface LinkDefinition {
  name: string;
  from: 'client' | string;
  to: string;
}

// ── actors and resources ─────────────────────────────────────────────────────

export interface SeedContext {
  /** The entry URL (through Toxiproxy). */
  baseUrl: string;
  /** Unique per run: use it in emails and names so runs never collide. */
  runId: string;
  /** Registers a value that must never appear in an artifact. */
  secret(value: string): void;
}

/** What a principal presents: headers (bearer), cookies, or query parameters (sockets). */
export interface Credentials {
  headers?: Record<string, string>;
  cookies?: Record<string, string>;
  /** Query parameters for realtime connections, when the target authenticates sockets that way. */
  query?: Record<string, string>;
  /** The principal's id in the target, when known (used in policies and subjects). */
  subjectId?: string;
}

export interface PrincipalDefinition<World = any> {
  /** Tenant key (a name in the world, not an id). */
  tenant: string;
  role: string;
  kind: 'user' | 'bot';
  /** For bots: the scopes the token was given. */
  scopes?: string[];
  /** Returns fresh credentials. Tokens in them are registered as secrets. */
  login(ctx: LoginContext<World>): Promise<Credentials>;
}

export interface LoginContext<World = any> {
  baseUrl: string;
  world: World;
  runId: string;
}

/** A principal as suites and policies see it. */
export interface PrincipalInfo {
  name: string;
  tenant: string;
  role: string;
  kind: 'user' | 'bot';
  scopes: string[];
}

export type Operation = 'create' | 'read' | 'update' | 'delete' | 'list' | (string & {});

export interface RouteDefinition<World = any> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path with `{param}` placeholders, filled from the instance's params. */
  path: string;
  /** JSON body, or raw bytes with `contentType`. */
  body?: (ctx: { world: World; params: Record<string, string>; runId: string }) => unknown;
  contentType?: string;
}

export interface ResourceInstance {
  /** Values for the route placeholders. */
  params: Record<string, string>;
  /** Tenant key of the instance. */
  tenant: string;
  /** Principal name that owns (created) it. */
  owner: string;
  /** Anything else policies may need (e.g. private: true). */
  attrs?: Record<string, unknown>;
}

export interface ResourceDefinition<World = any> {
  /** Who owns an instance: a user, the channel (room) it is in, or the tenant. */
  scope: 'user' | 'channel' | 'tenant';
  /** Seeds one instance as its owner and returns it. Called once per matrix run per instance. */
  create(ctx: { baseUrl: string; world: World; runId: string; as(principal: string): Promise<Credentials> }): Promise<ResourceInstance>;
  operations: Partial<Record<Operation, RouteDefinition<World>>>;
  /** The expected outcome of one matrix cell. */
  policy(principal: PrincipalInfo, op: Operation, instance: ResourceInstance, world: World): 'allow' | 'deny';
  /** Operations that destroy the instance; the matrix re-creates it after an allowed one. */
  destructive?: Operation[];
  /** The check id this resource's cells are reported under (default `authz.matrix`), e.g. `isolation.uploads`. */
  check?: string;
}

/** One declared HTTP rate limit. */
export interface HttpLimit<World = any> {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  /** Who calls it (null: anonymous, e.g. login). */
  as: string | null;
  /** The request body of attempt `i` (all attempts must count against the same bucket, e.g. one email). */
  body?(ctx: { world: World; runId: string; i: number }): unknown;
  /** Requests allowed per window before the limit answers. */
  limit: number;
  windowSeconds: number;
  /** How the limit answers: status (e.g. 429) and whether it sends Retry-After. */
  signal: { status: number; retryAfter?: boolean };
}

/** Bearer JWTs: where the token sits in the credentials and how it is signed. */
export interface TokenDefinition<World = any> {
  format: 'jwt';
  /** Header that carries `Bearer <jwt>` (default `authorization`). */
  header?: string;
  /** Signing: HS256 with a key the harness knows (a `{{secret:NAME}}` of the stack, or an env var for attach). */
  signing?: { alg: 'HS256'; secret: { stackSecret: string } | { env: string } };
  /** Claims that a valid token must carry, used for the stripped-claim variants (default sub, exp). */
  requiredClaims?: string[];
  /**
   * Returns the credentials of a principal that were valid, then suspended or
   * revoked through the API. They must be denied from then on.
   */
  suspended?(ctx: { baseUrl: string; world: World; runId: string; as(principal: string): Promise<Credentials> }): Promise<Credentials>;
}

export interface DenyOracle {
  /** Statuses that mean denied. */
  statuses: number[];
  /** A 2xx that still counts as denied, e.g. a list with no items. */
  emptyBody?: (body: unknown) => boolean;
}

// ── realtime, egress, SLOs ────────────────────────────────────────────────────

export interface RealtimeDefinition<World = any> {
  /** Path of the WebSocket endpoint on the entry link. */
  path: string;
  /** How credentials are presented on the upgrade request. */
  auth: 'headers' | 'cookies' | 'query';
  /** Rooms: each has a key, its tenant, and the principals allowed to join. */
  rooms(world: World): RealtimeRoom[];
  /** Frame that joins a room, and how to recognise that the join succeeded or was refused. */
  join: {
    frame(room: RealtimeRoom): unknown;
    accepted(frame: any, room: RealtimeRoom): boolean;
    refused(frame: any, room: RealtimeRoom): boolean;
  };
  /** Events a client may send. */
  events: Record<string, RealtimeEvent>;
  /** How the target says "slow down". */
  rateLimitSignal: { frame?: (frame: any) => boolean; closeCode?: number };
  /** How the target says "too large" or "invalid". */
  rejectSignal: { frame?: (frame: any) => boolean; closeCodes?: number[] };
  /**
   * What the target does with a binary frame: `'reject'` (default: it must meet
   * the reject signal), `'text'` (it reads the bytes as a text frame, as many
   * servers do) or `'allowed'`. With `'text'` or `'allowed'`, a valid frame sent
   * as binary is not a payload finding.
   */
  binaryFrames?: 'reject' | 'text' | 'allowed';
  /** Scope a bot needs to connect at all. */
  scope?: string;
  /**
   * Makes a fresh room with `member` in it and returns a function that revokes
   * the member through the API; used to check revocation mid-connection.
   */
  revocable?(ctx: { baseUrl: string; world: World; runId: string; as(principal: string): Promise<Credentials> }): Promise<{ room: RealtimeRoom; member: string; revoke(): Promise<void> }>;
}

export interface RealtimeRoom {
  key: string;
  tenant: string;
  /** Principals that may receive the room's events. */
  members: string[];
  /** Opaque values for frames (e.g. the channel id). */
  params: Record<string, string>;
}

export interface RealtimeEvent {
  /** Builds a frame for a room from a payload. */
  frame(room: RealtimeRoom, payload: unknown): unknown;
  /** Valid payloads. */
  arbitrary: Arbitrary<unknown>;
  limits: {
    ratePerSecond: number;
    burst: number;
    maxBytes: number;
    /**
     * Whose budget the rate is: one principal's across all its connections
     * and reconnects (default), or each connection's own. A per-connection
     * limit is not checked across connections or reconnects.
     */
    per?: 'principal' | 'connection';
    /** What `maxBytes` measures: the whole frame as sent (default) or the payload alone (a string's bytes, else its JSON). */
    maxBytesOf?: 'frame' | 'payload';
  };
  /** Delivered frames that carry a payload sent with this event (canary matching). */
  delivered?(frame: any): string | undefined;
  /** A relay event goes to one peer; the peer must never receive a malformed payload. */
  relay?: boolean;
  /** Scope a bot needs to send this event. */
  scope?: string;
}

export interface EgressEndpoint<World = any> {
  name: string;
  method: 'POST' | 'GET';
  path: string;
  /** The principal that calls it. */
  as: string;
  /** Request body for a URL to fetch. */
  body(url: string): unknown;
  /** Whether the response says the fetch was blocked. */
  blocked(status: number, body: unknown): boolean;
  /**
   * Environment variable of the stack through which the harness lets its own
   * loopback "external" origin past the guard (a test-only allowlist), so that
   * redirects from an allowed origin can be tested. Must be in the service's passEnv.
   */
  testOriginEnv?: string;
  /** Unused until an egress suite needs the world. */
  _world?: World;
}

/** A tier name, or a choice per tier. */
export type OffHostChoice = 'skip' | 'allow';

export interface SsrfOptions {
  /**
   * Whether SSRF cases that name non-loopback addresses (private, CGNAT,
   * link-local, the metadata service) are sent when the run is not sealed:
   * attach, compose, or a local run that could not get a network namespace.
   * `'skip'` (default) never sends them, and the run says so; `'allow'` sends
   * them, for a network you own (a staging VPC), and the evidence records that
   * you did. Per tier: `{ nightly: 'allow' }`. A sealed run always sends them:
   * they cannot leave its namespace.
   */
  offHostTargets?: OffHostChoice | Partial<Record<'pr' | 'nightly' | 'drill', OffHostChoice>>;
}

export interface SloDefinition {
  id: string;
  indicator: 'http_latency_p95_ms' | 'http_error_rate' | 'ws_delivery_p95_ms' | 'ws_reconnect_success_rate' | 'readiness';
  objective: number;
  /** Measurement window, e.g. "30s". */
  window: string;
  description?: string;
  /**
   * Judge a latency after chaos against the objective alone. By default the
   * after phase allows up to 1.5 × the run's own baseline when that is higher,
   * so a slow or loaded machine does not fail clean code.
   */
  strict?: boolean;
}

// ── integrity (nothing lost) ──────────────────────────────────────────────────

/** A channel the integrity writers append to. */
export interface IntegrityChannel {
  key: string;
  /** principal that writes and reads */
  as: string;
  params: Record<string, string>;
}

/** One write: the marker to store, and the key that makes a retry of it idempotent. */
export interface IntegrityWrite {
  marker: string;
  /** idempotency key: the same on a retry of the same write */
  key: string;
}

export interface IntegrityDefinition<World = any> {
  /** Channels the writers append to (at least two, so cross-channel delivery can be seen). */
  channels(world: World): IntegrityChannel[];
  /** HTTP append: route with {param} placeholders from the channel's params; a 2xx acknowledges the write. */
  http?: { method: 'POST' | 'PUT'; path: string; body(write: IntegrityWrite): unknown };
  /** Realtime append over `realtime.path` (with `realtime.auth`): the frame and how a reply acknowledges or rejects it. */
  realtime?: {
    frame(channel: IntegrityChannel, write: IntegrityWrite & { ref: string }): unknown;
    acked(frame: any, ref: string): boolean;
    rejected?(frame: any, ref: string): boolean;
  };
  /** Reads a channel's whole history (every page) and returns each stored item's payload text (where the marker is). */
  history(ctx: { baseUrl: string; channel: IntegrityChannel; get(path: string): Promise<unknown> }): Promise<string[]>;
}

/** Identity function that types a target profile. Validation happens in `resolveTarget()`. */
export function defineTarget<World>(profile: TargetProfile<World>): TargetProfile<World> {
  return profile;
}
