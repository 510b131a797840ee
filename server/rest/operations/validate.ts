/**
 * $validate — https://hl7.org/fhir/R4/resource-operation-validate.html at type level (`POST [type]/$validate`
 * with a resource or a Parameters{resource, mode, profile}) and instance level (`[type]/[id]/$validate`, which
 * validates the stored resource, or a supplied one as an update of it). Always 200 with an OperationOutcome
 * listing every issue; a malformed request is a 400. mode=delete checks whether the delete would be refused
 * because other resources reference the target.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, parseStoredJson, type JsonValue } from '../../fhir/json';
import { badRequest, issue, type Issue } from '../../fhir/outcome';
import { validateResource } from '../../fhir/validation';
import type { RestContext } from '../context';
import { resourceBody } from '../body';
import { sendOutcome } from '../http';

const MODES = new Set(['create', 'update', 'delete']);

function unwrap(body: JsonValue): { resource?: JsonValue; mode?: string } {
  if (isJsonObject(body) && body.resourceType === 'Parameters' && Array.isArray(body.parameter)) {
    const out: { resource?: JsonValue; mode?: string } = {};
    for (const p of body.parameter) {
      if (!isJsonObject(p)) continue;
      if (p.name === 'resource') out.resource = p.resource;
      else if (p.name === 'mode' && typeof p.valueCode === 'string') out.mode = p.valueCode;
    }
    return out;
  }
  return { resource: body };
}

function summarise(issues: Issue[]): Issue[] {
  if (!issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
    return [...issues, issue('information', 'informational', issues.length ? 'Validation passed with warnings' : 'Validation passed: no issues')];
  }
  return issues;
}

export async function validateOperation(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type: string,
  id?: string,
): Promise<FastifyReply> {
  const q = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  let resource: JsonValue | undefined;
  let mode = q.get('mode') ?? undefined;
  if (req.method === 'POST') {
    const u = unwrap(resourceBody(req));
    resource = u.resource;
    mode = u.mode ?? mode;
  }
  if (mode !== undefined && !MODES.has(mode)) throw badRequest(`$validate mode must be create, update or delete, got '${mode}'`, 'mode');
  if (mode === 'delete') {
    if (!id) throw badRequest('$validate with mode=delete needs an instance ([type]/[id]/$validate)');
    const { rows } = await ctx.pool.query<{ resource_type: string; id: string }>(
      `SELECT DISTINCT resource_type, id FROM resource_link WHERE target_id = $1 AND target_type = $2 AND NOT (id = $1 AND resource_type = $2) LIMIT 20`,
      [id, type],
    );
    await ctx.repo.read(type, id);
    const issues = rows.length
      ? [issue('error', 'conflict', `${type}/${id} is referenced by ${rows.map((r) => `${r.resource_type}/${r.id}`).join(', ')}`)]
      : [];
    return sendOutcome(req, reply, 200, summarise(issues));
  }
  if (resource === undefined) {
    if (!id) throw badRequest('$validate needs a resource to validate (in the body, or a Parameters with a resource parameter)');
    resource = parseStoredJson((await ctx.repo.read(type, id)).content!);
  }
  if (!isJsonObject(resource)) throw badRequest('$validate: the resource to validate must be a JSON object');
  const issues = validateResource(resource, { expectedType: type });
  if (id && resource.id !== undefined && resource.id !== id) {
    issues.push(issue('error', 'invalid', `The resource id '${String(resource.id)}' does not match the URL id '${id}'`, `${type}.id`));
  }
  if (mode === 'update' && resource.id === undefined) issues.push(issue('error', 'required', 'An update needs the resource id', `${type}.id`));
  return sendOutcome(req, reply, 200, summarise(issues));
}
