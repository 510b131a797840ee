/**
 * search — https://hl7.org/fhir/R4/http.html#search and https://hl7.org/fhir/R4/search.html:
 * - type level:        `GET [base]/[type]?…`, `POST [base]/[type]/_search` (form body; same result)
 * - system level:      `GET [base]?_type=…&…`, `POST [base]/_search`
 * - compartment level: `GET [base]/Patient/[id]/[type]?…` (CompartmentDefinition membership)
 *
 * The query grammar is fhir/search/parse.ts (strict: unknown parameters or modifiers are a 400, or, with
 * `Prefer: handling=lenient`, ignored and reported in an OperationOutcome entry with search.mode `outcome`);
 * the SQL is repository/search. This module turns the page into a `searchset` Bundle: entries marked `match` or
 * `include`, `total`, and `self`/`next`/`previous` links that carry the paging cursor. Resources are spliced in
 * as stored text unless `_summary`/`_elements` ask for a subset. The HTTP routes and a bundle's GET entry
 * (batch-transaction.ts) both run `searchBundle`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isResourceType, r4Model } from '../fhir/definitions';
import { parseStoredJson, toJson } from '../fhir/json';
import { OperationOutcomeError, badRequest, notFound, type Issue } from '../fhir/outcome';
import { applySummary } from '../fhir/summary';
import { assertId } from '../repository/repository';
import type { Caller } from '../repository/caller';
import type { Reads } from '../repository/reads';
import { compartmentParams } from '../repository/search/compile/access';
import type { FoundResource } from '../repository/search/request';
import { parseTypes } from '../fhir/search/controls';
import type { Criterion, ParsedSearch, SearchControls } from '../fhir/search/criteria';
import { SearchParameterNotReady } from '../fhir/search/errors';
import { parseSearch } from '../fhir/search/parse';
import { callerOf } from './caller';
import type { RestContext } from './context';
import { bundleText, type BundleEntry } from './bundle';
import { sendBundle } from './http';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** Query parameters, plus the form body of `POST …/_search` (search.html#search-post). */
export function searchParamsOf(req: FastifyRequest): [string, string][] {
  const url = req.url;
  const q = url.indexOf('?');
  const params: [string, string][] = q >= 0 ? [...new URLSearchParams(url.slice(q + 1))] : [];
  if (req.method === 'POST') {
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (typeof req.body === 'string' && req.body.length) {
      if (type !== 'application/x-www-form-urlencoded') {
        throw badRequest(`POST _search takes an application/x-www-form-urlencoded body, not '${type}'`);
      }
      params.push(...new URLSearchParams(req.body));
    }
  }
  return params;
}

export interface SearchScope {
  /** undefined: every type (system search without _type) */
  types: string[] | undefined;
  /** path of the search under the base, for links: `Patient`, `` (system), `Patient/123/Observation` */
  path: string;
  compartment?: { type: string; id: string };
}

/** The search interaction without HTTP: runs a search through `reads` for `caller` and builds its Bundle text. */
export async function searchBundle(
  ctx: RestContext,
  reads: Reads,
  caller: Caller,
  scope: SearchScope,
  params: [string, string][],
  opts: { lenient: boolean },
): Promise<string> {
  const parse = (): ParsedSearch =>
    parseSearch(scope.types ?? r4Model().resourceTypes, params, {
      timeZone: ctx.config.timeZone,
      baseUrl: ctx.config.baseUrl,
      lenient: opts.lenient,
    });
  await reads.syncSearchParameters();
  // A parameter this process does not know (or sees as still reindexing) may be a custom one defined or activated
  // through another process since this one last polled: look at the database once more before refusing it.
  let parsed: ParsedSearch | undefined;
  try {
    parsed = parse();
  } catch (e) {
    const stale =
      e instanceof SearchParameterNotReady || (e instanceof OperationOutcomeError && e.status === 400 && e.issues[0]?.code === 'not-supported');
    if (!stale) throw e;
  }
  if (!parsed || parsed.ignored.length) {
    await reads.syncSearchParameters(true);
    parsed = parse();
  }
  const criteria: Criterion[] = [...parsed.criteria];
  if (scope.compartment) criteria.push({ kind: 'compartment', type: scope.compartment.type, id: scope.compartment.id });
  const c: SearchControls = parsed.controls;
  const count = c.summary === 'count' ? 0 : Math.min(c.count ?? DEFAULT_COUNT, MAX_COUNT);
  // Without _total, a total is given when the first page holds every match (it is free then), else not: counting
  // every match of a large result costs more than the page itself. `_total=accurate` always counts.
  const total = c.summary === 'count' || count === 0 ? 'accurate' : (c.total ?? 'complete');
  const result = await reads.searchResources(caller, {
    types: scope.types,
    criteria,
    sort: c.sort,
    count,
    cursor: c.cursor,
    include: c.include,
    total,
    contained: c.contained,
    containedType: c.containedType,
  });

  const base = ctx.config.baseUrl;
  const at = scope.path ? `${base}/${scope.path}` : base;
  const linkTo = (cursor?: string): string => {
    const qs = new URLSearchParams(params.filter(([k]) => k !== '_cursor'));
    if (cursor) qs.set('_cursor', cursor);
    const s = qs.toString();
    return s ? `${at}?${s}` : at;
  };
  const link = [{ relation: 'self', url: linkTo(c.cursor) }];
  if (result.next) link.push({ relation: 'next', url: linkTo(result.next) });
  if (result.previous) link.push({ relation: 'previous', url: linkTo(result.previous) });

  const subset = (c.summary && c.summary !== 'false') || c.elements;
  const render = (r: FoundResource): string =>
    subset ? toJson(applySummary(parseStoredJson(r.content), c.summary ?? 'false', c.elements)) : r.content;
  const entries: BundleEntry[] = [
    // a contained resource (_containedType=contained): its container's URL and its local id (search.html#contained)
    ...result.matches.map((r) => ({
      fullUrl: r.container ? `${base}/${r.container.resourceType}/${r.container.id}#${r.id}` : `${base}/${r.resourceType}/${r.id}`,
      resource: render(r),
      search: { mode: 'match' as const },
    })),
    ...result.includes.map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: render(r), search: { mode: 'include' as const } })),
  ];
  const issues: Issue[] = [...parsed.ignored, ...result.warnings];
  if (issues.length) {
    entries.push({ resource: toJson({ resourceType: 'OperationOutcome', issue: issues }), search: { mode: 'outcome' } });
  }
  return bundleText({ type: 'searchset', total: result.total, link }, entries);
}

/** `GET [type]?…` and `POST [type]/_search`. */
export async function search(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string): Promise<FastifyReply> {
  const text = await searchBundle(ctx, ctx.repo, callerOf(req), { types: [type], path: type }, searchParamsOf(req), {
    lenient: req.fhir.prefer.lenient,
  });
  return sendBundle(req, reply, text);
}

/** `GET [base]?_type=…` and `POST [base]/_search`. */
export async function systemSearch(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const params = searchParamsOf(req);
  const types = parseTypes(params);
  const text = await searchBundle(ctx, ctx.repo, callerOf(req), { types, path: '' }, params, { lenient: req.fhir.prefer.lenient });
  return sendBundle(req, reply, text);
}

/** The scope of a compartment search `[compartment]/[id]/[type]` (search.html#compartments), checked. */
export function compartmentScope(compartment: string, id: string, type: string): SearchScope {
  if (!isResourceType(type)) throw notFound(`Unknown resource type '${type}'`);
  assertId(id);
  if (compartmentParams(compartment, type).length === 0 && type !== compartment) {
    throw badRequest(`${type} is not in the ${compartment} compartment (CompartmentDefinition ${compartment})`);
  }
  return { types: [type], path: `${compartment}/${id}/${type}`, compartment: { type: compartment, id } };
}

/** `GET [base]/[compartment]/[id]/[type]` (search.html#compartments). */
export async function compartmentSearch(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  compartment: string,
  id: string,
  type: string,
): Promise<FastifyReply> {
  const scope = compartmentScope(compartment, id, type);
  const text = await searchBundle(ctx, ctx.repo, callerOf(req), scope, searchParamsOf(req), { lenient: req.fhir.prefer.lenient });
  return sendBundle(req, reply, text);
}
