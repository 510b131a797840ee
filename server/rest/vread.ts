/**
 * vread — https://hl7.org/fhir/R4/http.html#vread: one version; a deletion version answers 410. The HTTP route and
 * a bundle's GET entry (batch-transaction.ts) both read through `Reads.vread`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callerOf } from './caller';
import type { RestContext } from './context';
import { sendResource, versionHeaders } from './http';

export async function vread(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type: string,
  id: string,
  vid: string,
): Promise<FastifyReply> {
  const v = await ctx.repo.vread(callerOf(req), type, id, vid);
  versionHeaders(reply, v);
  return sendResource(req, reply, 200, v.content!);
}
