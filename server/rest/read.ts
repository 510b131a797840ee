/**
 * read — https://hl7.org/fhir/R4/http.html#read, with conditional read (http.html#cread): If-None-Match and
 * If-Modified-Since answer 304 when the client's copy is current. Deleted → 410, unknown → 404.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RestContext } from './context';
import { etag, sendResource, versionHeaders } from './http';

export async function read(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string): Promise<FastifyReply> {
  const v = await ctx.repo.read(type, id);
  versionHeaders(reply, v);
  const inm = req.headers['if-none-match'];
  if (typeof inm === 'string' && inm.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === etag(v.versionId).replace(/^W\//, ''))) {
    return reply.code(304).send();
  }
  const ims = req.headers['if-modified-since'];
  if (typeof ims === 'string' && inm === undefined) {
    const since = Date.parse(ims);
    // HTTP dates have second precision: the resource is unmodified when its lastUpdated is within that second.
    if (!Number.isNaN(since) && Math.floor(Date.parse(v.lastUpdated) / 1000) * 1000 <= since) return reply.code(304).send();
  }
  return sendResource(req, reply, 200, v.content!);
}
