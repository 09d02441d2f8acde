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
