/**
 * patch — https://hl7.org/fhir/R4/http.html#patch with JSON Patch (`application/json-patch+json`, RFC 6902) or
 * FHIRPath Patch (a Parameters resource, `application/fhir+json`; fhirpatch.html). The patched resource is
 * validated like any update; If-Match guards the version. Conditional patch (`PATCH [type]?criteria`) patches
 * the single match.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, type JsonObject, type JsonValue } from '../fhir/json';
import { badRequest } from '../fhir/outcome';
import { applyFhirPathPatch } from '../fhir/patch/fhirPathPatch';
import { applyJsonPatch } from '../fhir/patch/jsonPatch';
import type { RestContext } from './context';
import { resourceBody } from './body';
import { callerOf } from './caller';
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

async function patchTarget(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type: string,
  target: { id: string } | { criteria: string },
): Promise<FastifyReply> {
  const ifMatch = req.headers['if-match'];
  const result = await ctx.repo.patch(callerOf(req), type, target, patchFunction(req), {
    ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined,
  });
  versionHeaders(reply, result);
  reply.header('Content-Location', `${ctx.config.baseUrl}/${type}/${result.id}/_history/${result.versionId}`);
  return sendWriteResult(req, reply, 200, result.content, result.warnings);
}

export async function patch(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string): Promise<FastifyReply> {
  return patchTarget(ctx, req, reply, type, { id });
}

/** The single match of the criteria is patched (none: 404, several: 412), under the criteria's lock. */
export async function conditionalPatch(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type: string,
  criteria: string,
): Promise<FastifyReply> {
  return patchTarget(ctx, req, reply, type, { criteria });
}
