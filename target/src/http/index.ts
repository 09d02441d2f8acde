import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';
import { registerAuthRoutes } from './auth.ts';
import { registerBotRoutes } from './bots.ts';
import { registerChannelRoutes } from './channels.ts';
import { registerMessageRoutes } from './messages.ts';
import { registerTenantRoutes } from './tenants.ts';
import { registerUploadRoutes } from './uploads.ts';

/** Registers every HTTP API route: auth, tenants, channels, messages, uploads and bots. */
export function registerHttpRoutes(app: FastifyInstance, s: Services): void {
  registerAuthRoutes(app, s);
  registerTenantRoutes(app, s);
  registerChannelRoutes(app, s);
  registerMessageRoutes(app, s);
  registerBotRoutes(app, s);
  void app.register(async (scope) => registerUploadRoutes(scope, s));
}
