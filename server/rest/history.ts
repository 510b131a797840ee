/**
 * history — https://hl7.org/fhir/R4/http.html#history at instance, type and system level: newest first, with
 * `_count`, `_since`, `_at` and `next` links. Deletions appear as entries with request.method DELETE and no
 * resource. The bundle's meta.lastUpdated is the commit horizon (repository/history.ts): use it as the next
 * `_since` and no change is ever missed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseDateRange } from '../fhir/datetime';
import { badRequest, notFound } from '../fhir/outcome';
import { history as readHistory, type HistoryEntry } from '../repository/history';
import type { RestContext } from './context';
import { bundleText, type BundleEntry } from './bundle';
import { checkParams, queryValue, sendBundle, type Query } from './http';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;

const STATUS: Record<string, string> = { POST: '201 Created', PUT: '200 OK', PATCH: '200 OK', DELETE: '204 No Content' };

function parseCount(v: string | undefined): number {
  if (v === undefined) return DEFAULT_COUNT;
  if (!/^\d+$/.test(v)) throw badRequest(`_count must be a non-negative integer, got '${v}'`, '_count');
  return Math.min(Math.max(Number(v), 1), MAX_COUNT);
}

function entry(base: string, e: HistoryEntry): BundleEntry {
  const url = `${e.resourceType}/${e.id}`;
  const out: BundleEntry = {
    fullUrl: `${base}/${url}`,
    request: { method: e.method, url: e.method === 'POST' ? e.resourceType : url },
    response: { status: e.deleted ? '204 No Content' : STATUS[e.method] ?? '200 OK', etag: `W/"${e.versionId}"`, lastModified: e.lastUpdated },
  };
  if (e.content) out.resource = e.content;
  return out;
}

export async function history(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type?: string, id?: string): Promise<FastifyReply> {
  checkParams(req, ['_count', '_since', '_at', '_cursor'], 'history');
  const q = req.query as Query;
  const tz = ctx.config.timeZone;
  const since = queryValue(q, '_since');
  const at = queryValue(q, '_at');
  const count = parseCount(queryValue(q, '_count'));
  const page = await readHistory(ctx.pool, {
    resourceType: type,
    id,
    since: since !== undefined ? parseDateRange(since, tz, '_since').low : undefined,
    at: at !== undefined ? parseDateRange(at, tz, '_at') : undefined,
    count,
    cursor: queryValue(q, '_cursor'),
  });
  if (id && page.total === 0) throw notFound(`${type}/${id} is not known`);
  const path = [type, id, '_history'].filter(Boolean).join('/');
  const base = ctx.config.baseUrl;
  const params = new URLSearchParams();
  for (const name of ['_since', '_at', '_count']) {
    const v = queryValue(q, name);
    if (v !== undefined) params.set(name, v);
  }
  const selfParams = new URLSearchParams(params);
  const cursor = queryValue(q, '_cursor');
  if (cursor) selfParams.set('_cursor', cursor);
  const link = [{ relation: 'self', url: `${base}/${path}${selfParams.size ? `?${selfParams}` : ''}` }];
  if (page.next) {
    params.set('_cursor', page.next);
    link.push({ relation: 'next', url: `${base}/${path}?${params}` });
  }
  const text = bundleText(
    { type: 'history', total: page.total, link, lastUpdated: page.horizon },
    page.entries.map((e) => entry(base, e)),
  );
  return sendBundle(req, reply, text);
}
