import { SingleBar } from 'cli-progress';
import pc from 'picocolors';

/**
 * Progress on stderr: a live bar on a TTY, plain lines elsewhere (CI logs).
 * Colour follows picocolors, which honours NO_COLOR and FORCE_COLOR.
 */
export class Progress {
  readonly #tty: boolean;
  #bar: SingleBar | undefined;
  readonly #started = performance.now();

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.#tty = !!stream.isTTY && !process.env.CI;
  }

  #elapsed(): string {
    return `${((performance.now() - this.#started) / 1000).toFixed(1)}s`;
  }

  step(message: string): void {
    if (this.quiet) return;
    this.#stopBar();
    this.stream.write(`${pc.dim(this.#elapsed().padStart(7))} ${pc.cyan('›')} ${message}\n`);
  }

  tests(done: number, total: number, last: string): void {
    if (this.quiet || !this.#tty || total === 0) return;
    if (!this.#bar) {
      this.#bar = new SingleBar(
        { stream: this.stream, format: `${' '.repeat(8)}${pc.cyan('›')} checks {bar} {value}/{total} {last}`, barsize: 24, hideCursor: true, clearOnComplete: true },
      );
      this.#bar.start(total, done, { last: '' });
    }
    this.#bar.setTotal(total);
    this.#bar.update(done, { last: pc.dim(last.slice(0, 40)) });
  }

  #stopBar(): void {
    if (this.#bar) {
      this.#bar.stop();
      this.#bar = undefined;
    }
  }

  close(): void {
    this.#stopBar();
  }
}
