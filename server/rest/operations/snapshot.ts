/**
 * StructureDefinition/$snapshot — https://hl7.org/fhir/R4/structuredefinition-operation-snapshot.html: the snapshot
 * of a profile, generated from its differential and the base R4 definitions (fhir/validation/profile/snapshot.ts).
 * `GET [base]/StructureDefinition/$snapshot?url=` for a loaded profile (profiles/, AROGYA_IG_DIRS);
 * `POST` with the StructureDefinition (or `Parameters{definition}`) for any constraint on R4 or on a loaded profile;
 * `[base]/StructureDefinition/[id]/$snapshot` for a stored one.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, parseStoredJson, type JsonValue } from '../../fhir/json';
import { badRequest, notFound } from '../../fhir/outcome';
import type { Definition } from '../../fhir/terminology/expand';
import { ProfileError, ProfileSet } from '../../fhir/validation/profile/set';
import { resourceBody } from '../body';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { sendJson } from '../http';

export async function snapshotOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, id?: string): Promise<FastifyReply> {
  const profiles = ctx.repo.options.profiles ?? new ProfileSet();
  const q = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  let definition: JsonValue | undefined;
  let url = q.get('url') ?? undefined;
  if (id) definition = parseStoredJson((await ctx.repo.read(callerOf(req), 'StructureDefinition', id)).content!);
  else if (req.method === 'POST') {
    const body = resourceBody(req);
    if (isJsonObject(body) && body.resourceType === 'Parameters' && Array.isArray(body.parameter)) {
      for (const p of body.parameter) {
        if (!isJsonObject(p)) continue;
        if (p.name === 'definition') definition = p.resource;
        else if (p.name === 'url' && typeof (p.valueString ?? p.valueUri) === 'string') url = String(p.valueString ?? p.valueUri);
      }
    } else definition = body;
  }
  if (definition === undefined) {
    if (!url) throw badRequest('$snapshot needs a definition (POST) or the url of a loaded profile', 'url');
    const sd = profiles.snapshot(url);
    if (!sd) throw notFound(`No loaded profile has the url '${url}'`);
    return sendJson(req, reply, 200, sd);
  }
  if (!isJsonObject(definition)) throw badRequest('$snapshot: the definition must be a StructureDefinition');
  try {
    return sendJson(req, reply, 200, profiles.snapshotOf(definition as Definition));
  } catch (e) {
    if (e instanceof ProfileError) throw badRequest(`$snapshot: ${e.message}`);
    throw e;
  }
}
