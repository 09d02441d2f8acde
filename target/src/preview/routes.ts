import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';
import { fetchPreview, type HopPolicy } from './fetch.ts';
import { createGuard, loopbackOnlyReason, urlNotAllowed } from './guard.ts';

/** Picks how hops are vetted; the SSRF flaws drop the check everywhere, only on redirects, or for all but loopback. */
function hopPolicy(s: Services): HopPolicy {
  const guard = createGuard({ allowOrigins: s.config.previewAllowOrigins, reasonFor: s.config.flaws.has('ssrf-loopback-only') ? loopbackOnlyReason : undefined });
  const unchecked = async (url: string | URL) => {
    const u = new URL(String(url));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw urlNotAllowed(`scheme ${u.protocol} is not http or https`);
    return u;
  };
  if (s.config.flaws.has('ssrf-no-guard')) return { vetInitial: unchecked, vetRedirect: unchecked };
  if (s.config.flaws.has('ssrf-follow-redirect')) return { vetInitial: guard, vetRedirect: unchecked };
  return { vetInitial: guard, vetRedirect: guard };
}

/** `POST /previews {url}`: fetches a URL and returns its title, guarded against SSRF. */
export function registerPreviewRoutes(app: FastifyInstance, s: Services): void {
  const policy = hopPolicy(s);
  app.post<{ Body: { url: string } }>(
    '/previews',
    {
      schema: {
        summary: 'Fetch a link preview (title) for a public http(s) URL',
        tags: ['previews'],
        body: {
          type: 'object',
          required: ['url'],
          additionalProperties: false,
          properties: { url: { type: 'string', minLength: 1, maxLength: 2048 } },
        },
        response: {
          200: {
            type: 'object',
            properties: { url: { type: 'string' }, title: { type: ['string', 'null'] }, status: { type: 'integer' } },
          },
        },
      },
    },
    async (req) => {
      await app.authenticate(req);
      return fetchPreview(req.body.url, policy);
    },
  );
}
