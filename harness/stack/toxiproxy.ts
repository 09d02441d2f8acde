import { Toxiproxy, type Proxy, type ICreateToxicBody } from 'toxiproxy-node-client';
import { BreakwaterError } from '../errors.ts';
import { ManagedProcess } from './managed-process.ts';
import { freePort } from './ports.ts';

export type ToxicType = 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';

export interface ToxicSpec {
  type: ToxicType;
  /** `downstream` is upstream service → client; `upstream` is client → service. */
  stream: 'upstream' | 'downstream';
  attributes: Record<string, number>;
  toxicity?: number;
}

/** Control over a Toxiproxy server: the links of one stack. */
export class ToxiproxyControl {
  readonly client: Toxiproxy;
  constructor(readonly url: string) {
    this.client = new Toxiproxy(url);
  }

  async version(): Promise<string> {
    return this.client.getVersion();
  }

  async createProxy(name: string, listen: string, upstream: string): Promise<Proxy> {
    return this.client.createProxy({ name, listen, upstream, enabled: true } as never);
  }

  /** Adds a toxic and returns its name; remove it with `removeToxic`. */
  async addToxic(link: string, name: string, spec: ToxicSpec): Promise<string> {
    const proxy = await this.client.get(link);
    await proxy.addToxic({ name, type: spec.type, stream: spec.stream, toxicity: spec.toxicity ?? 1, attributes: spec.attributes } as ICreateToxicBody<unknown>);
    return name;
  }

  async removeToxic(link: string, name: string): Promise<void> {
    const res = await fetch(`${this.url}/proxies/${encodeURIComponent(link)}/toxics/${encodeURIComponent(name)}`, { method: 'DELETE' });
    if (!res.ok && res.status !== 404) throw new Error(`toxiproxy: removing toxic ${name} from ${link} failed with ${res.status}`);
  }

  /** Takes a link down (every connection refused) or back up. */
  async setEnabled(link: string, enabled: boolean): Promise<void> {
    const proxy = await this.client.get(link);
    await proxy.update({ enabled, listen: proxy.listen, upstream: proxy.upstream } as never);
  }

  /** Every toxic still installed, and every disabled link: what a clean teardown must leave empty. */
  async leftovers(): Promise<{ toxics: string[]; disabled: string[] }> {
    const res = await fetch(`${this.url}/proxies`);
    const proxies = (await res.json()) as Record<string, { enabled: boolean; toxics: { name: string }[] }>;
    const toxics: string[] = [];
    const disabled: string[] = [];
    for (const [name, p] of Object.entries(proxies)) {
      for (const t of p.toxics) toxics.push(`${name}/${t.name}`);
      if (!p.enabled) disabled.push(name);
    }
    return { toxics, disabled };
  }

  /** Removes every toxic and re-enables every proxy (Toxiproxy's /reset). */
  async reset(): Promise<void> {
    await this.client.reset();
  }
}

/** Starts a real `toxiproxy-server` on a free loopback port and waits for its API. */
export async function startToxiproxyServer(binary: string, logFile: string, runId?: string): Promise<{ process: ManagedProcess; control: ToxiproxyControl }> {
  const port = await freePort();
  const proc = new ManagedProcess({ name: 'toxiproxy', runId, command: binary, args: ['-host', '127.0.0.1', '-port', String(port)], logFile });
  proc.start();
  const control = new ToxiproxyControl(`http://127.0.0.1:${port}`);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!proc.running) break;
    try {
      await control.version();
      return { process: proc, control };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await proc.stop();
  throw new BreakwaterError('BW_STACK_START_FAILED', `toxiproxy-server did not answer on port ${port} within 10 s; see ${logFile}`);
}
