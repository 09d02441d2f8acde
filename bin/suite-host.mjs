// The suite host (harness/run/suite-host-main.ts), forked by `breakwater run`: tsx's loader first, as in breakwater.mjs.
const { register } = await import('tsx/esm/api');
register();
await import('../harness/run/suite-host-main.ts');
