/**
 * update — https://hl7.org/fhir/R4/http.html#update (update-as-create for a new client-chosen id → 201), and
 * conditional update (http.html#cond-update, `PUT [type]?criteria`). If-Match guards against lost updates (412).
 * An update identical to the current version creates no new version.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RestContext } from './context';
import type { WriteResult } from '../repository/repository';
import { writtenBody } from './body';
import { callerOf } from './caller';
import { sendWriteResult, versionHeaders } from './http';

function ifMatch(req: FastifyRequest): string | undefined {
  const v = req.headers['if-match'];
  return typeof v === 'string' ? v : undefined;
}

function respond(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, result: WriteResult): FastifyReply {
  versionHeaders(reply, result);
  const location = `${ctx.config.baseUrl}/${type}/${result.id}/_history/${result.versionId}`;
  reply.header(result.outcome === 'created' ? 'Location' : 'Content-Location', location);
  return sendWriteResult(req, reply, result.outcome === 'created' ? 201 : 200, result.content, result.warnings);
}

export async function update(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string): Promise<FastifyReply> {
  const result = await ctx.repo.update(callerOf(req), type, id, await writtenBody(req), { ifMatch: ifMatch(req) });
  return respond(ctx, req, reply, type, result);
}

export async function conditionalUpdate(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type: string,
  criteria: string,
): Promise<FastifyReply> {
  const result = await ctx.repo.conditionalUpdate(callerOf(req), type, criteria, await writtenBody(req), { ifMatch: ifMatch(req) });
  return respond(ctx, req, reply, type, result);
}
