/**
 * Custom search parameters' reindex (search.html#custom; no published OperationDefinition, so these are Arogya's):
 * - `GET [base]/SearchParameter/[id]/$reindex-status` — a Parameters resource: `status` (pending | active | failed
 *   | retired | inactive), `progress` (percent), `processed` and `total` (resources of the base types), `phase`
 *   (waiting | walk | catch-up), `code`, `base`, `expression`, `versionId`, `error`, `startedAt`, `finishedAt`.
 * - `POST [base]/SearchParameter/[id]/$reindex` — starts the reindex of the parameter's current definition over
 *   (after a failure, or to rebuild its index); 202 with the status, Content-Location the status URL.
 *
 * A SearchParameter becomes pending when it is created or its expression, type, code or base changes; searches
 * using it answer 400 ("reindex in progress (n %)") until the job has covered every existing resource.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseStoredJson } from '../../fhir/json';
import { checkSearchParameter } from '../../fhir/search/custom';
import { percentOf, type SearchParameterState } from '../../repository/search/parameters';
import { requireUnrestricted } from '../../repository/search/compile/access';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { sendJson } from '../http';

type Param = Record<string, unknown> & { name: string };

function statusParameters(s: SearchParameterState | undefined, versionId: number, inactiveReason?: string): Record<string, unknown> {
  const parameter: Param[] = [];
  if (!s || (s.status === 'retired' && inactiveReason)) {
    parameter.push({ name: 'status', valueCode: 'inactive' });
    parameter.push({ name: 'versionId', valueString: String(versionId) });
    if (inactiveReason) parameter.push({ name: 'reason', valueString: inactiveReason });
    return { resourceType: 'Parameters', parameter };
  }
  parameter.push({ name: 'status', valueCode: s.status });
  parameter.push({ name: 'progress', valueDecimal: percentOf(s) });
  parameter.push({ name: 'processed', valueInteger: s.done });
  if (s.total !== null) parameter.push({ name: 'total', valueInteger: s.total });
  if (s.status === 'pending') parameter.push({ name: 'phase', valueCode: s.phase ?? (s.startedAt ? 'walk' : 'waiting') });
  parameter.push({ name: 'versionId', valueString: String(s.versionId) });
  parameter.push({ name: 'code', valueCode: s.definition.code });
  for (const b of s.definition.base) parameter.push({ name: 'base', valueCode: b });
  parameter.push({ name: 'expression', valueString: s.definition.expression });
  if (s.error) parameter.push({ name: 'error', valueString: s.error });
  if (s.startedAt) parameter.push({ name: 'startedAt', valueInstant: new Date(s.startedAt).toISOString() });
  if (s.finishedAt) parameter.push({ name: 'finishedAt', valueInstant: new Date(s.finishedAt).toISOString() });
  return { resourceType: 'Parameters', parameter };
}

/** `GET SearchParameter/[id]/$reindex-status` */
export async function reindexStatusOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, id: string): Promise<FastifyReply> {
  const sp = await ctx.repo.read(callerOf(req), 'SearchParameter', id); // 404 unknown, 410 deleted
  const check = checkSearchParameter(parseStoredJson(sp.content!));
  const state = await ctx.repo.searchParameterState(id);
  // Keep this process's registry in step with what the status says.
  await ctx.repo.syncSearchParameters(true);
  return sendJson(req, reply, 200, statusParameters(state, sp.versionId, check.kind === 'ignored' ? check.reason : undefined));
}

/** `POST SearchParameter/[id]/$reindex` */
export async function reindexOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, id: string): Promise<FastifyReply> {
  const caller = callerOf(req);
  requireUnrestricted(caller.access, '$reindex');
  const sp = await ctx.repo.read(caller, 'SearchParameter', id);
  const state = await ctx.repo.restartReindex(id);
  reply.header('Content-Location', `${ctx.config.baseUrl}/SearchParameter/${id}/$reindex-status`);
  return sendJson(req, reply, 202, statusParameters(state, sp.versionId));
}
