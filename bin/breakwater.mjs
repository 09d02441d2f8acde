#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so there is no build step.
// Signals are caught from the first instant: a Ctrl-C while the CLI is still
// loading must end as cleanly as one in the middle of a run.
const early = [];
const onEarly = (sig) => early.push(sig);
process.on('SIGINT', onEarly);
process.on('SIGTERM', onEarly);

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../harness/cli/main.ts');
process.exitCode = await main(process.argv, { early, stopEarly: () => (process.off('SIGINT', onEarly), process.off('SIGTERM', onEarly)) });
