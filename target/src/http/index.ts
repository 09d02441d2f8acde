import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';

/** Registers every HTTP API route. */
export function registerHttpRoutes(_app: FastifyInstance, _s: Services): void {}
