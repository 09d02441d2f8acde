import type { TestProject } from 'vitest/node';
import { startInfra } from './infra.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    targetInfra: { databaseUrl: string; redisUrl: string; pgPort: number; redisPort: number };
  }
}

/** One Postgres and one Redis for the whole target test run; each test file makes its own database. */
export default async function setup(project: TestProject) {
  const infra = await startInfra();
  project.provide('targetInfra', { databaseUrl: infra.databaseUrl, redisUrl: infra.redisUrl, pgPort: infra.pgPort, redisPort: infra.redisPort });
  return async () => infra.stop();
}
