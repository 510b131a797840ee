/**
 * delete — https://hl7.org/fhir/R4/http.html#delete (idempotent: deleting a deleted or unknown resource succeeds)
 * and conditional delete (http.html#cdelete): every match is deleted, up to the write engine's limit
 * (repository/bundle-plan.ts MAX_CONDITIONAL_DELETE), in one transaction (the CapabilityStatement says `multiple`).
 * 409 while other resources reference the target.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { issue } from '../fhir/outcome';
import { callerOf } from './caller';
import type { RestContext } from './context';
import { sendOutcome, versionHeaders } from './http';

export async function deleteResource(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string): Promise<FastifyReply> {
  const ifMatch = req.headers['if-match'];
  const result = await ctx.repo.delete(callerOf(req), type, id, { ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined });
  if (result.outcome === 'deleted') versionHeaders(reply, result);
  if (req.fhir.prefer.return === 'OperationOutcome') {
    const text =
      result.outcome === 'deleted'
        ? `Deleted ${type}/${id}`
        : result.outcome === 'unchanged'
          ? `${type}/${id} was already deleted`
          : `${type}/${id} does not exist`;
    return sendOutcome(req, reply, 200, [issue('information', 'informational', text)]);
  }
  return reply.code(204).send();
}

export async function conditionalDelete(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type: string,
  criteria: string,
): Promise<FastifyReply> {
  const results = await ctx.repo.conditionalDelete(callerOf(req), type, criteria);
  const deleted = results.filter((r) => r.outcome === 'deleted');
  if (req.fhir.prefer.return === 'OperationOutcome' || deleted.length === 0) {
    const text = deleted.length
      ? `Deleted ${deleted.length} ${type}: ${deleted.map((r) => `${type}/${r.id}`).join(', ')}`
      : `No ${type} matched '${criteria}'; nothing was deleted`;
    return sendOutcome(req, reply, 200, [issue(deleted.length ? 'information' : 'warning', deleted.length ? 'informational' : 'not-found', text)]);
  }
  if (deleted.length === 1) versionHeaders(reply, deleted[0]);
  return reply.code(204).send();
}
