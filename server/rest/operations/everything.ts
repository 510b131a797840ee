/**
 * $everything — https://hl7.org/fhir/R4/patient-operation-everything.html (`Patient/[id]/$everything`) and
 * https://hl7.org/fhir/R4/encounter-operation-everything.html (`Encounter/[id]/$everything`): a searchset Bundle
 * with the focal resource, its compartment and the resources those reference (Practitioners, Organizations,
 * Locations, Medications, …), paged by `next` links. Parameters: `_since` (instant), `_type` (comma-separated types),
 * `_count` (page size, default and max 1000). `start`/`end` (care dates) are not supported (400).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseDateRange } from '../../fhir/datetime';
import { isResourceType } from '../../fhir/definitions';
import { isJsonObject, type JsonValue } from '../../fhir/json';
import { badRequest, notSupported } from '../../fhir/outcome';
import type { EverythingCompartment } from '../../repository/everything';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { bundleText, type BundleEntry } from '../bundle';
import { resourceBody } from '../body';
import { sendBundle } from '../http';

/** A whole record usually fits one page (every Synthea patient does); bigger ones page with `next` links. */
const DEFAULT_COUNT = 1000;
const MAX_COUNT = 1000;
const KNOWN = new Set(['_since', '_type', '_count', '_cursor', '_format', '_pretty']);

/** Query parameters, plus those of a POSTed Parameters resource (valueInstant, valueCode, valueInteger, …). */
function parametersOf(req: FastifyRequest): URLSearchParams {
  const params = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  if (req.method === 'POST' && typeof req.body === 'string' && req.body.trim() !== '') {
    const body: JsonValue = resourceBody(req);
    if (!isJsonObject(body) || body.resourceType !== 'Parameters') throw badRequest('POST $everything takes a Parameters resource (or no body)');
    for (const p of Array.isArray(body.parameter) ? body.parameter : []) {
      if (!isJsonObject(p) || typeof p.name !== 'string') continue;
      const value = Object.entries(p).find(([k]) => k.startsWith('value'))?.[1];
      if (typeof value === 'string' || typeof value === 'number') params.append(p.name, String(value));
    }
  }
  return params;
}

export async function everythingOperation(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  type: string,
  id: string,
): Promise<FastifyReply> {
  const compartment = type as EverythingCompartment;
  const params = parametersOf(req);
  for (const name of params.keys()) {
    if (name === 'start' || name === 'end') throw notSupported(`$everything parameter '${name}' (care dates) is not supported; use _since or _type`);
    if (!KNOWN.has(name)) throw badRequest(`Unknown $everything parameter '${name}'`);
  }
  const sinceRaw = params.get('_since');
  const since = sinceRaw !== null ? parseDateRange(sinceRaw, ctx.config.timeZone, '_since').low : undefined;
  const typeRaw = params
    .getAll('_type')
    .flatMap((v) => v.split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of typeRaw) if (!isResourceType(t)) throw badRequest(`_type: unknown resource type '${t}'`, '_type');
  const countRaw = params.get('_count');
  if (countRaw !== null && !/^\d+$/.test(countRaw)) throw badRequest(`_count must be a non-negative integer, got '${countRaw}'`, '_count');
  const count = Math.min(countRaw === null ? DEFAULT_COUNT : Number(countRaw), MAX_COUNT);

  const caller = callerOf(req);
  await ctx.repo.read(caller, type, id); // 404 unknown (or not the caller's to see), 410 deleted
  const page = await ctx.repo.everything(caller, {
    compartment,
    id,
    since,
    types: typeRaw.length ? typeRaw : undefined,
    count,
    cursor: params.get('_cursor') ?? undefined,
  });

  const base = ctx.config.baseUrl;
  const path = `${base}/${type}/${id}/$everything`;
  const keep = new URLSearchParams();
  for (const name of ['_since', '_type', '_count']) for (const v of params.getAll(name)) keep.append(name, v);
  const self = new URLSearchParams(keep);
  const cursor = params.get('_cursor');
  if (cursor) self.set('_cursor', cursor);
  const link = [{ relation: 'self', url: `${path}${self.size ? `?${self}` : ''}` }];
  if (page.next) {
    keep.set('_cursor', page.next);
    link.push({ relation: 'next', url: `${path}?${keep}` });
  }
  const entries: BundleEntry[] = page.entries.map((e) => ({
    fullUrl: `${base}/${e.resourceType}/${e.id}`,
    resource: e.content,
    search: { mode: e.mode },
  }));
  return sendBundle(req, reply, bundleText({ type: 'searchset', total: page.total, link }, entries));
}
