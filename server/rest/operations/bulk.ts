/**
 * The bulk job endpoints under `[base]/_bulk/` (https://hl7.org/fhir/uv/bulkdata/export.html, status request,
 * delete request and file request; the same for $import):
 *
 *   GET    _bulk/jobs/[id]               status: 202 + X-Progress + Retry-After while queued or running; 200 with
 *                                        the manifest (application/json) when complete; 500 with the job's
 *                                        OperationOutcome when it failed; 404 when unknown, cancelled or expired
 *   DELETE _bulk/jobs/[id]               cancel (202); the job stops at its next batch and its files are removed
 *   GET    _bulk/jobs/[id]/files/[name]  an output or error file (application/fhir+ndjson), streamed
 *   POST   _bulk/upload                  an NDJSON body (application/fhir+ndjson), streamed to the data dir; 201
 *                                        with its URL (Location and body), to name as a $import input
 *   GET    _bulk/upload/[id], DELETE …   read back or remove an upload
 *
 * `_bulk` cannot be a resource type, so these never collide with FHIR URLs. Registered as an encapsulated Fastify
 * plugin: the NDJSON body parser (a stream, not a buffer) applies to these routes only.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { OperationOutcomeError, issue, notFound } from '../../fhir/outcome';
import { toJson } from '../../fhir/json';
import { isJobId, jobFile, uploadFile, uploadsDir } from '../../jobs/files';
import type { RestContext } from '../context';
import { httpDate, sendOutcome } from '../http';
import { jobOwner, ownsJob, ownsUpload, runnerOf, uploadOwnerFile } from './bulk-kickoff';

const NDJSON_TYPES = ['application/fhir+ndjson', 'application/ndjson', 'application/x-ndjson'];
const ALL_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const RETRY_AFTER_SECONDS = 2;

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

function route(app: FastifyInstance, url: string, methods: Partial<Record<HTTPMethods, Handler>>): void {
  const allow = Object.keys(methods).join(', ');
  app.route({
    method: ALL_METHODS,
    url,
    handler: async (req, reply) => {
      const handler = methods[req.method as HTTPMethods];
      if (!handler)
        throw new OperationOutcomeError(405, [issue('error', 'not-supported', `${req.method} is not allowed here; allowed: ${allow}`)], {
          Allow: allow,
        });
      return handler(req, reply);
    },
  });
}

function sendFile(reply: FastifyReply, file: string): FastifyReply {
  return reply.code(200).type('application/fhir+ndjson').send(fs.createReadStream(file));
}

async function status(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { id } = req.params as { id: string };
  const job = isJobId(id) ? await runnerOf(ctx).store.get(id) : undefined;
  if (!job || job.status === 'cancelled' || !ownsJob(job.params, req)) throw notFound(`No bulk job ${id} (unknown, cancelled or expired)`);
  switch (job.status) {
    case 'queued':
    case 'running':
      reply.header('X-Progress', (job.status === 'queued' ? 'queued' : (job.progress ?? 'running')).slice(0, 200));
      reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
      return reply.code(202).send();
    case 'completed':
      if (job.expiresAt) reply.header('Expires', httpDate(job.expiresAt));
      return reply.code(200).type('application/json; charset=utf-8').send(toJson(job.manifest));
    case 'failed':
      return sendOutcome(req, reply, 500, job.outcome?.issue ?? [issue('fatal', 'exception', 'The job failed')]);
  }
}

async function cancel(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { id } = req.params as { id: string };
  const job = isJobId(id) ? await runnerOf(ctx).store.get(id) : undefined;
  if (!job || !ownsJob(job.params, req) || !(await runnerOf(ctx).cancel(id))) throw notFound(`No bulk job ${id} (unknown, cancelled or expired)`);
  return sendOutcome(req, reply, 202, [issue('information', 'informational', `Bulk job ${id} was cancelled and its files deleted`)]);
}

async function file(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { id, name } = req.params as { id: string; name: string };
  const path = jobFile(ctx.config.dataDir, id, name);
  const job = path ? await runnerOf(ctx).store.get(id) : undefined;
  if (!path || job?.status !== 'completed' || !ownsJob(job.params, req) || !fs.existsSync(path)) throw notFound(`No file ${name} in bulk job ${id}`);
  return sendFile(reply, path);
}

/** Counts bytes through the pipe and fails past the limit (a streamed body has no Content-Length to trust). */
function limit(bytes: number): Transform & { seen: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      t.seen += chunk.length;
      if (t.seen > bytes)
        done(
          new OperationOutcomeError(413, [issue('error', 'too-long', `The upload exceeds the limit of ${bytes} bytes (AROGYA_BULK_UPLOAD_LIMIT)`)]),
        );
      else done(null, chunk);
    },
  }) as Transform & { seen: number };
  t.seen = 0;
  return t;
}

async function upload(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const id = crypto.randomUUID();
  const target = uploadFile(ctx.config.dataDir, id)!;
  await fs.promises.mkdir(uploadsDir(ctx.config.dataDir), { recursive: true });
  const counter = limit(ctx.config.bulkUploadLimit);
  const partial = `${target}.part`;
  try {
    await pipeline(req.body as Readable, counter, fs.createWriteStream(partial));
    // its owner first: the upload is never readable by anyone else, not even for a moment
    const owner = jobOwner(req);
    if (owner !== undefined) await fs.promises.writeFile(uploadOwnerFile(target), owner, { mode: 0o600 });
    await fs.promises.rename(partial, target);
  } catch (e) {
    await fs.promises.rm(partial, { force: true });
    if (e instanceof OperationOutcomeError) reply.header('Connection', 'close'); // do not read the rest of a refused body
    throw e;
  }
  const url = `${ctx.config.baseUrl}/_bulk/upload/${id}`;
  reply.header('Location', url);
  return reply
    .code(201)
    .type('application/json; charset=utf-8')
    .send(toJson({ url, bytes: counter.seen }));
}

export function bulkRoutes(ctx: RestContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addContentTypeParser(NDJSON_TYPES, (_req, payload, done) => done(null, payload));
    route(app, '/jobs/:id', { GET: (req, reply) => status(ctx, req, reply), DELETE: (req, reply) => cancel(ctx, req, reply) });
    route(app, '/jobs/:id/files/:name', { GET: (req, reply) => file(ctx, req, reply) });
    route(app, '/upload', {
      POST: (req, reply) => {
        if (!req.body || typeof (req.body as Readable).pipe !== 'function') {
          throw new OperationOutcomeError(415, [issue('error', 'not-supported', `Upload NDJSON with Content-Type ${NDJSON_TYPES[0]}`)]);
        }
        return upload(ctx, req, reply);
      },
    });
    route(app, '/upload/:id', {
      GET: async (req, reply) => {
        const path = uploadFile(ctx.config.dataDir, (req.params as { id: string }).id);
        if (!path || !fs.existsSync(path) || !(await ownsUpload(path, req))) throw notFound('No such upload');
        return sendFile(reply, path);
      },
      DELETE: async (req, reply) => {
        const path = uploadFile(ctx.config.dataDir, (req.params as { id: string }).id);
        if (!path || !fs.existsSync(path) || !(await ownsUpload(path, req))) throw notFound('No such upload');
        await fs.promises.rm(path, { force: true });
        await fs.promises.rm(uploadOwnerFile(path), { force: true });
        return reply.code(204).send();
      },
    });
  };
}
