/**
 * $validate — https://hl7.org/fhir/R4/resource-operation-validate.html at type level (`POST [type]/$validate`
 * with a resource or a Parameters{resource, mode, profile}) and instance level (`[type]/[id]/$validate`, which
 * validates the stored resource, or a supplied one as an update of it). `profile` (query or Parameters) names a
 * loaded profile to validate against besides the claimed ones (profiles/, AROGYA_IG_DIRS). Always 200 with an OperationOutcome
 * listing every issue; a malformed request is a 400. mode=delete checks whether the delete would be refused
 * because other resources reference the target.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, parseStoredJson, type JsonValue } from '../../fhir/json';
import { badRequest, issue, type Issue } from '../../fhir/outcome';
import { validateResource } from '../../fhir/validation';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { resourceBody } from '../body';
import { sendOutcome } from '../http';

const MODES = new Set(['create', 'update', 'delete']);
const MAX_LISTED_REFERRERS = 20;

function unwrap(body: JsonValue): { resource?: JsonValue; mode?: string; profile?: string } {
  if (isJsonObject(body) && body.resourceType === 'Parameters' && Array.isArray(body.parameter)) {
    const out: { resource?: JsonValue; mode?: string; profile?: string } = {};
    for (const p of body.parameter) {
      if (!isJsonObject(p)) continue;
      if (p.name === 'resource') out.resource = p.resource;
      else if (p.name === 'mode' && typeof p.valueCode === 'string') out.mode = p.valueCode;
      else if (p.name === 'profile') {
        const v = p.valueUri ?? p.valueCanonical ?? p.valueString;
        if (typeof v === 'string') out.profile = v;
      }
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
  const caller = callerOf(req);
  const q = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  let resource: JsonValue | undefined;
  let mode = q.get('mode') ?? undefined;
  let profile = q.get('profile') ?? undefined;
  if (req.method === 'POST') {
    const u = unwrap(resourceBody(req));
    resource = u.resource;
    mode = u.mode ?? mode;
    profile = u.profile ?? profile;
  }
  // profile: any profile loaded at start-up (profiles/, AROGYA_IG_DIRS); one the server does not hold is a 400.
  const profiles = ctx.repo.options.profiles;
  if (profile !== undefined && !profiles?.profile(profile)) {
    throw badRequest(`$validate: the profile '${profile}' is not loaded on this server`, 'profile');
  }
  if (mode !== undefined && !MODES.has(mode)) throw badRequest(`$validate mode must be create, update or delete, got '${mode}'`, 'mode');
  if (mode === 'delete') {
    if (!id) throw badRequest('$validate with mode=delete needs an instance ([type]/[id]/$validate)');
    await ctx.repo.read(caller, type, id);
    const r = await ctx.repo.referrers(caller, type, id, MAX_LISTED_REFERRERS);
    const names = [...r.named, ...(r.more ? ['more'] : []), ...(r.hidden ? ['resources you may not see'] : [])];
    const issues = names.length ? [issue('error', 'conflict', `${type}/${id} is referenced by ${names.join(', ')}`)] : [];
    return sendOutcome(req, reply, 200, summarise(issues));
  }
  if (resource === undefined) {
    if (!id) throw badRequest('$validate needs a resource to validate (in the body, or a Parameters with a resource parameter)');
    resource = parseStoredJson((await ctx.repo.read(caller, type, id)).content!);
  }
  if (!isJsonObject(resource)) throw badRequest('$validate: the resource to validate must be a JSON object');
  const issues = validateResource(resource, { expectedType: type, profiles, alsoProfiles: profile ? [profile] : [] });
  if (id && resource.id !== undefined && resource.id !== id) {
    issues.push(issue('error', 'invalid', `The resource id '${String(resource.id)}' does not match the URL id '${id}'`, `${type}.id`));
  }
  if (mode === 'update' && resource.id === undefined) issues.push(issue('error', 'required', 'An update needs the resource id', `${type}.id`));
  return sendOutcome(req, reply, 200, summarise(issues));
}
