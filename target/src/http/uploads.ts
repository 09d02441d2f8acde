import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../auth.ts';
import { HttpError, notFound } from '../errors.ts';
import { requireScope, type Channel } from '../membership.ts';
import type { Services } from '../services.ts';
import { writableChannel } from './guards.ts';
import { idParams, type ChannelParams } from './schemas.ts';

interface UploadParams extends ChannelParams {
  upid: string;
}

/** Largest accepted upload body. */
export const UPLOAD_LIMIT_BYTES = 1024 * 1024;

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;
const FALLBACK_TYPE = 'application/octet-stream';

/** The media type of an upload: the request's, without parameters, or octet-stream when missing or odd. */
function mediaType(header: string | undefined): string {
  const type = (header ?? '').split(';')[0]!.trim().toLowerCase();
  return MIME.test(type) && type.length <= 127 ? type : FALLBACK_TYPE;
}

/** `content-disposition: attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266). */
function attachment(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/**
 * The channel whose uploads are listed or downloaded. With `upload-no-membership`
 * on, only the channel's existence is checked, not whether the caller may read it.
 */
async function uploadChannel(s: Services, principal: Principal, params: ChannelParams): Promise<Channel> {
  const ch = await s.membership.channel(params.tid, params.cid);
  if (!s.config.flaws.has('upload-no-membership')) await s.membership.requireRead(principal, ch);
  return ch;
}

/**
 * Uploads: raw bytes in, raw bytes out. Registered in its own plugin scope so
 * that its catch-all binary body parser leaves JSON parsing of every other route alone.
 */
export async function registerUploadRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const tags = ['uploads'];
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: UPLOAD_LIMIT_BYTES }, (_req, payload, done) => done(null, payload));

  app.post<{ Params: ChannelParams; Querystring: { filename: string } }>(
    '/tenants/:tid/channels/:cid/uploads',
    {
      bodyLimit: UPLOAD_LIMIT_BYTES,
      schema: {
        tags,
        consumes: ['application/octet-stream', '*/*'],
        params: idParams('tid', 'cid'),
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['filename'],
          properties: { filename: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^/\\\\\\x00-\\x1f\\x7f]+$' } },
        },
      },
      errorHandler(err, _req: FastifyRequest, _reply) {
        if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          throw new HttpError(413, 'payload_too_large', `upload is larger than ${UPLOAD_LIMIT_BYTES} bytes`);
        }
        throw err;
      },
    },
    async (req, reply) => {
      const principal = await app.authenticate(req);
      requireScope(s.config, principal, 'uploads:write');
      const ch = await writableChannel(s, principal, req.params.tid, req.params.cid);
      const data = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const contentType = mediaType(req.headers['content-type']);
      const { rows } = await s.db.query<{ id: string }>(
        'INSERT INTO uploads (channel_id, uploader_id, filename, content_type, size, data) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
        [ch.id, principal.userId, req.query.filename, contentType, data.length, data],
      );
      return reply.status(201).send({ uploadId: rows[0]!.id, filename: req.query.filename, size: data.length, contentType });
    },
  );

  app.get<{ Params: ChannelParams }>('/tenants/:tid/channels/:cid/uploads', { schema: { tags, params: idParams('tid', 'cid') } }, async (req) => {
    const principal = await app.authenticate(req);
    requireScope(s.config, principal, 'uploads:read');
    const ch = await uploadChannel(s, principal, req.params);
    const { rows } = await s.db.query<{ id: string; filename: string; size: number; content_type: string; uploader_id: string }>(
      'SELECT id, filename, size, content_type, uploader_id FROM uploads WHERE channel_id = $1 ORDER BY created_at DESC, id',
      [ch.id],
    );
    return { items: rows.map((r) => ({ uploadId: r.id, filename: r.filename, size: r.size, contentType: r.content_type, uploaderId: r.uploader_id })) };
  });

  app.get<{ Params: UploadParams }>(
    '/tenants/:tid/channels/:cid/uploads/:upid',
    { schema: { tags, params: idParams('tid', 'cid', 'upid'), produces: ['*/*'] } },
    async (req, reply) => {
      const principal = await app.authenticate(req);
      requireScope(s.config, principal, 'uploads:read');
      const ch = await uploadChannel(s, principal, req.params);
      const { rows } = await s.db.query<{ filename: string; content_type: string; data: Buffer }>(
        'SELECT filename, content_type, data FROM uploads WHERE id = $1 AND channel_id = $2',
        [req.params.upid, ch.id],
      );
      const upload = rows[0];
      if (!upload) throw notFound('upload not found');
      return reply
        .type(upload.content_type)
        .header('content-disposition', attachment(upload.filename))
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .send(upload.data);
    },
  );
}
