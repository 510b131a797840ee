/**
 * patch — https://hl7.org/fhir/R4/http.html#patch with JSON Patch (`application/json-patch+json`, RFC 6902) or
 * FHIRPath Patch (a Parameters resource, `application/fhir+json`; fhirpatch.html). The patched resource is
 * validated like any update; If-Match guards the version. Conditional patch (`PATCH [type]?criteria`) patches
 * the single match.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, type JsonObject, type JsonValue } from '../fhir/json';
import { badRequest, notFound, preconditionFailed } from '../fhir/outcome';
import { applyFhirPathPatch } from '../fhir/patch/fhirPathPatch';
import { applyJsonPatch } from '../fhir/patch/jsonPatch';
import type { RestContext } from './context';
import { resourceBody } from './body';
import { sendWriteResult, versionHeaders } from './http';

function patchFunction(req: FastifyRequest): (current: JsonObject) => JsonObject {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const doc: JsonValue = resourceBody(req);
  if (contentType === 'application/json-patch+json') return (current) => applyJsonPatch(current, doc);
  if (isJsonObject(doc) && doc.resourceType === 'Parameters') return (current) => applyFhirPathPatch(current, doc);
  throw badRequest(
    'A PATCH body must be a JSON Patch document (Content-Type: application/json-patch+json) or a FHIRPath Patch Parameters resource (application/fhir+json)',
  );
}

export async function patch(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string): Promise<FastifyReply> {
  const ifMatch = req.headers['if-match'];
  const result = await ctx.repo.patch(type, id, patchFunction(req), { ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined });
  versionHeaders(reply, result);
  reply.header('Content-Location', `${ctx.config.baseUrl}/${type}/${id}/_history/${result.versionId}`);
  return sendWriteResult(req, reply, 200, result.content, result.warnings);
}

export async function conditionalPatch(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, criteria: string): Promise<FastifyReply> {
  const ids = await ctx.repo.findIds(ctx.pool, type, new URLSearchParams(criteria), 'conditional patch', 2);
  if (ids.length === 0) throw notFound(`No ${type} matches '${criteria}'`);
  if (ids.length > 1) throw preconditionFailed(`Conditional patch criteria '${criteria}' match more than one ${type}`, 'multiple-matches');
  return patch(ctx, req, reply, type, ids[0]);
}
