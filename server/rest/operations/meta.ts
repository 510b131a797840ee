/**
 * $meta, $meta-add, $meta-delete — https://hl7.org/fhir/R4/resource-operations.html#meta (and #meta-add,
 * #meta-delete). All answer a Parameters with one `return` Meta.
 *
 *  - `$meta` (GET or POST): at system and type level the profiles, tags and security labels in use on current
 *    resources (no versionId/lastUpdated: a summary, read from the search index); at instance level the meta of
 *    the current version, and of a given version at `[type]/[id]/_history/[vid]/$meta`.
 *  - `$meta-add` / `$meta-delete` (POST, instance level, a Parameters with one `meta`): profiles, tags and security
 *    labels are sets — profiles by URL, codings by system + code (version and display ignored when matching);
 *    adding one already there or deleting one absent is not an error.
 *
 * Versions: R4 (4.0.1) dropped the DSTU2/STU3 note that these operations "do not cause a new version"; R4 Meta only
 * says changes to it "might not always be associated with version changes". Here a change of meta is a change of
 * the resource: it goes through the write engine as a patch and makes a new version (so ETags, history, the
 * `_tag`/`_profile`/`_security` index, and everything that follows committed writes see it), and an operation
 * that changes nothing makes none. Historical versions are immutable: `$meta-add`/`$meta-delete` on
 * `_history/[vid]` is refused (400).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, parseStoredJson, type JsonObject, type JsonValue } from '../../fhir/json';
import { badRequest, notSupported } from '../../fhir/outcome';
import { resourceBody } from '../body';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { sendJson, versionHeaders } from '../http';

type Change = 'add' | 'delete';

function returnMeta(meta: JsonValue | undefined): JsonObject {
  return { resourceType: 'Parameters', parameter: [{ name: 'return', valueMeta: isJsonObject(meta) ? meta : {} }] };
}

/** The `meta` parameter of a $meta-add/$meta-delete body (exactly one, a Meta). */
function metaParameter(req: FastifyRequest, op: string): JsonObject {
  const body = resourceBody(req);
  if (!isJsonObject(body) || body.resourceType !== 'Parameters') throw badRequest(`${op} takes a Parameters resource with one 'meta' parameter`);
  const params = Array.isArray(body.parameter) ? body.parameter : [];
  const unknown = params.filter((p) => !isJsonObject(p) || p.name !== 'meta');
  if (unknown.length)
    throw badRequest(
      `${op} takes only the parameter 'meta'; got ${unknown.map((p) => (isJsonObject(p) ? `'${String(p.name)}'` : 'a malformed parameter')).join(', ')}`,
    );
  if (params.length !== 1) throw badRequest(`${op} needs exactly one 'meta' parameter (got ${params.length})`, 'Parameters.parameter');
  const meta = (params[0] as JsonObject).valueMeta;
  if (!isJsonObject(meta)) throw badRequest(`${op}: the 'meta' parameter needs a valueMeta`, 'Parameters.parameter[0].valueMeta');
  for (const key of Object.keys(meta)) {
    if (!['profile', 'tag', 'security', 'id', 'extension'].includes(key)) {
      throw badRequest(
        `${op} changes profile, tag and security only; meta.${key} cannot be set this way`,
        `Parameters.parameter[0].valueMeta.${key}`,
      );
    }
  }
  return meta;
}

/** Set identity: a profile by its URL, a tag or security label by system + code. */
function identity(kind: string, v: JsonValue): string {
  if (kind === 'profile') return String(v);
  return isJsonObject(v) ? `${String(v.system ?? '')}|${String(v.code ?? '')}` : '';
}

/** The resource with the meta's profiles, tags and security labels added or deleted (a new object). */
function changeMeta(resource: JsonObject, change: JsonObject, mode: Change): JsonObject {
  const meta: JsonObject = isJsonObject(resource.meta) ? { ...resource.meta } : {};
  for (const kind of ['profile', 'security', 'tag']) {
    const given = change[kind];
    if (given === undefined) continue;
    if (!Array.isArray(given)) throw badRequest(`meta.${kind} must be an array`, `Parameters.parameter[0].valueMeta.${kind}`);
    const current = Array.isArray(meta[kind]) ? (meta[kind] as JsonValue[]) : [];
    const ids = new Set(given.map((v) => identity(kind, v)));
    let next: JsonValue[];
    if (mode === 'delete') next = current.filter((v) => !ids.has(identity(kind, v)));
    else {
      const have = new Set(current.map((v) => identity(kind, v)));
      next = [...current];
      for (const v of given) {
        const id = identity(kind, v);
        if (!have.has(id)) next.push(v);
        have.add(id);
      }
    }
    if (next.length) meta[kind] = next;
    else delete meta[kind];
  }
  return { ...resource, meta };
}

/** `$meta` at any level. */
export async function metaOperation(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type?: string,
  id?: string,
  vid?: string,
): Promise<FastifyReply> {
  if (req.method === 'POST' && typeof req.body === 'string' && req.body.trim() !== '') {
    const body = resourceBody(req);
    if (!isJsonObject(body) || body.resourceType !== 'Parameters' || (Array.isArray(body.parameter) && body.parameter.length > 0)) {
      throw badRequest('$meta takes no parameters (send no body, or an empty Parameters)');
    }
  }
  if (!id) return sendJson(req, reply, 200, returnMeta(await ctx.repo.metaInUse(callerOf(req), type)));
  const caller = callerOf(req);
  const v = vid === undefined ? await ctx.repo.read(caller, type!, id) : await ctx.repo.vread(caller, type!, id, vid);
  versionHeaders(reply, v);
  return sendJson(req, reply, 200, returnMeta(parseStoredJson(v.content!).meta));
}

/** `$meta-add` and `$meta-delete` (instance level). */
export function metaChangeOperation(mode: Change) {
  const op = mode === 'add' ? '$meta-add' : '$meta-delete';
  return async (ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string, vid?: string): Promise<FastifyReply> => {
    if (vid !== undefined)
      throw notSupported(`${op} on a historical version is not supported: stored versions never change (apply it to ${type}/${id})`);
    const change = metaParameter(req, op);
    const result = await ctx.repo.patch(callerOf(req), type, { id }, (current) => changeMeta(current, change, mode));
    versionHeaders(reply, result);
    return sendJson(req, reply, 200, returnMeta(parseStoredJson(result.content!).meta));
  };
}
