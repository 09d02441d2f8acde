import type { ExitRecord } from './managed-process.ts';
import type { ToxiproxyControl } from './toxiproxy.ts';

export type ProviderName = 'local' | 'compose' | 'attach';

/** One link as started: where clients connect and where it leads. */
export interface StartedLink {
  name: string;
  from: string;
  to: string;
  /** host:port that the `from` side connects to (the Toxiproxy listen address). */
  listen: string;
  /** host:port of the real service behind it. */
  upstream: string;
  /** Toxiproxy proxy name (equal to the link name). */
  proxy: string;
}

/** Everything about a started stack that can cross a process boundary (vitest workers, k6). */
export interface StackInfo {
  provider: ProviderName;
  runId: string;
  /** The entry link's URL: every client request goes through Toxiproxy. */
  baseUrl: string;
  /** Toxiproxy API, when faults can be injected. */
  toxiproxyUrl?: string;
  links: Record<string, StartedLink>;
  services: Record<string, { kind: string; port?: number; pid?: number; logFile?: string }>;
  /** Where service logs are captured (local provider). */
  logDir?: string;
  /** Temp dir holding data dirs (local provider); removed at stop. */
  workDir?: string;
}

/** Process faults. Only providers that own the processes offer them. */
export interface ProcessControl {
  kill(service: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed or stopped service again with the same ports and data, and waits until healthy. */
  restart(service: string): Promise<void>;
  pause(service: string): Promise<void>;
  resume(service: string): Promise<void>;
  /** Services whose processes are currently paused. */
  paused(): string[];
  /**
   * Starts another instance of a process service (a canary candidate): the
   * same command and cwd, its own port, the same link listeners and
   * `{{secret:...}}` values as the service, `opts.env` on top. It carries the
   * stack's marker and the stack's teardown stops it too. Resolves once it is
   * healthy. Only providers that own the processes offer it.
   */
  startInstance?(service: string, opts: InstanceOptions): Promise<StartedInstance>;
}

export interface InstanceOptions {
  /** Unique among the stack's services and instances, e.g. `app-canary`; names the log file. */
  name: string;
  /** Variables set over the service's own environment. */
  env?: Record<string, string>;
  /** Aborting stops waiting for health; the start then fails and the instance is stopped. */
  signal?: AbortSignal;
}

/** An extra instance of a service, up and healthy. `stop()` is idempotent. */
export interface StartedInstance extends AsyncDisposable {
  readonly name: string;
  readonly service: string;
  /** `http://127.0.0.1:<port>`, straight to the instance (no Toxiproxy in front). */
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Whether its process is still running. */
  running(): boolean;
  /** How its process ended, if it did (unexpected exits are the instance's, not the stack's incidents). */
  exits(): ExitRecord[];
  stop(): Promise<void>;
}

/** A stack that is up. Dispose it (or call stop()) exactly once; both are idempotent. */
export interface StartedStack extends AsyncDisposable {
  readonly info: StackInfo;
  readonly toxiproxy?: ToxiproxyControl;
  readonly processes?: ProcessControl;
  /** Values generated for `{{secret:NAME}}` templates, by name: they must be redacted everywhere. */
  readonly secrets: Readonly<Record<string, string>>;
  /** Processes that exited without being asked to. */
  incidents(): ExitRecord[];
  stop(): Promise<StoppedStack>;
}

export interface StoppedStack {
  readonly info: StackInfo;
  readonly incidents: ExitRecord[];
  /** Problems met while tearing down (every step still ran). */
  readonly teardownErrors: string[];
}
