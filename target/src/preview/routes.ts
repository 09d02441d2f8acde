import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';

/** `POST /previews {url}`: fetches a URL and returns its title, guarded against SSRF. */
export function registerPreviewRoutes(_app: FastifyInstance, _s: Services): void {}
