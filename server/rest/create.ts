/**
 * create — https://hl7.org/fhir/R4/http.html#create, and conditional create (http.html#ccreate) through the
 * If-None-Exist header: one match → 200 with the existing resource, none → 201, several → 412.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RestContext } from './context';
import { writtenBody } from './body';
import { callerOf } from './caller';
import { sendWriteResult, versionHeaders } from './http';

export async function create(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string): Promise<FastifyReply> {
  const ifNoneExist = req.headers['if-none-exist'];
  const result = await ctx.repo.create(callerOf(req), await writtenBody(req), type, {
    ifNoneExist: typeof ifNoneExist === 'string' ? ifNoneExist : undefined,
  });
  versionHeaders(reply, result);
  reply.header('Location', `${ctx.config.baseUrl}/${type}/${result.id}/_history/${result.versionId}`);
  return sendWriteResult(req, reply, result.outcome === 'existing' ? 200 : 201, result.content, result.warnings);
}
