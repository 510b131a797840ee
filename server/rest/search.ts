/**
 * search — https://hl7.org/fhir/R4/http.html#search (`GET [type]?…`, `POST [type]/_search` with a form body).
 * The criteria the storage indexes today are `_id`, `_lastUpdated` and `identifier`; anything else is refused
 * with 400 (or ignored and reported under `Prefer: handling=lenient`), never silently dropped.
 * Result control: `_count` (default 20, max 1000), `_total` (none|estimate|accurate), `_summary=count`,
 * keyset paging links.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, issue, type Issue } from '../fhir/outcome';
import { toJson } from '../fhir/json';
import type { RestContext } from './context';
import { bundleText, type BundleEntry } from './bundle';
import { negotiate, preferLenient, sendBundle } from './http';
import { OperationOutcomeError } from '../fhir/outcome';

const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
/** Parameters this module handles itself (not criteria). */
const CONTROL = new Set(['_count', '_cursor', '_total', '_summary', '_format', '_pretty']);
const CRITERIA = /^(_id|_lastUpdated|identifier)$/;

function paramsOf(req: FastifyRequest): URLSearchParams {
  const url = req.url;
  const qs = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const params = new URLSearchParams(qs);
  if (req.method === 'POST' && typeof req.body === 'string' && req.body.length) {
    for (const [k, v] of new URLSearchParams(req.body)) params.append(k, v);
  }
  return params;
}

export async function search(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string): Promise<FastifyReply> {
  negotiate(req);
  const all = paramsOf(req);
  const criteria = new URLSearchParams();
  const ignored: string[] = [];
  for (const [k, v] of all) {
    if (CONTROL.has(k)) continue;
    if (CRITERIA.test(k.split(':')[0]) || !preferLenient(req)) criteria.append(k, v);
    else ignored.push(k);
  }
  const countRaw = all.get('_count');
  if (countRaw !== null && !/^\d+$/.test(countRaw)) throw badRequest(`_count must be a non-negative integer, got '${countRaw}'`, '_count');
  const summary = all.get('_summary');
  if (summary !== null && !['count', 'false'].includes(summary)) {
    throw new OperationOutcomeError(400, [issue('error', 'not-supported', `_summary=${summary} is not supported on search yet (count, false are)`)]);
  }
  const totalMode = all.get('_total') ?? 'accurate';
  if (!['none', 'estimate', 'accurate'].includes(totalMode)) throw badRequest(`_total must be none, estimate or accurate`, '_total');
  const count = summary === 'count' ? 0 : Math.min(countRaw === null ? DEFAULT_COUNT : Number(countRaw), MAX_COUNT);
  const cursor = all.get('_cursor') ?? undefined;
  const page = await ctx.repo.search(type, criteria, { count, cursor, total: totalMode !== 'none' || summary === 'count' });

  const base = ctx.config.baseUrl;
  const selfParams = new URLSearchParams(all);
  const link = [{ relation: 'self', url: `${base}/${type}?${selfParams}` }];
  if (page.next) {
    const next = new URLSearchParams(all);
    next.set('_cursor', page.next);
    link.push({ relation: 'next', url: `${base}/${type}?${next}` });
  }
  const entries: BundleEntry[] = page.resources.map((r) => ({
    fullUrl: `${base}/${type}/${r.id}`,
    resource: r.content,
    search: { mode: 'match' },
  }));
  if (ignored.length) {
    const issues: Issue[] = [issue('warning', 'not-supported', `Ignored unsupported search parameters: ${ignored.join(', ')}`)];
    entries.push({ resource: toJson({ resourceType: 'OperationOutcome', issue: issues }), search: { mode: 'outcome' } });
  }
  return sendBundle(req, reply, bundleText({ type: 'searchset', total: page.total, link }, entries));
}
