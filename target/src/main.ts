import { loadConfig, ConfigError } from './config.ts';
import { buildApp } from './app.ts';

/** Entry point: `node --import tsx target/src/main.ts`. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`reference-target: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const target = await buildApp(config);
  const url = await target.listen();
  target.services.log.info({ url, flaws: config.flaws.list() }, 'reference target listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    target.services.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    target.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: Error) => {
  process.stderr.write(`reference-target: failed to start: ${err.message}\n`);
  process.exit(1);
});
