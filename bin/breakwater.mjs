#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so there is no build step.
// Signals are caught from the first instant: a Ctrl-C while the CLI is still
// loading must end as cleanly as one in the middle of a run.
const early = [];
const onEarly = (sig) => early.push(sig);
process.on('SIGINT', onEarly);
process.on('SIGTERM', onEarly);
// A rejection left behind by a cancelled test run must not print a stack trace
// or change the exit code; main() has already decided the outcome.
process.on('unhandledRejection', (err) => {
  if (process.env.BREAKWATER_DEBUG) console.error('breakwater: unhandled rejection (debug):', err);
});

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../harness/cli/main.ts');
const code = await main(process.argv, { early, stopEarly: () => (process.off('SIGINT', onEarly), process.off('SIGTERM', onEarly)) });
// Exit with the code main() decided, whatever a library set process.exitCode to meanwhile.
process.exit(code);
