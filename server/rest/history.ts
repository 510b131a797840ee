/**
 * history — https://hl7.org/fhir/R4/http.html#history at instance, type and system level: newest first, with
 * `_count`, `_since`, `_at` and `next` links. Deletions appear as entries with request.method DELETE and no
 * resource. The bundle's meta.lastUpdated is the commit horizon (repository/history.ts): use it as the next
 * `_since` and no change is ever missed. The HTTP routes and a bundle's GET entry (batch-transaction.ts) both run
 * `historyBundle`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseDateRange } from '../fhir/datetime';
import { badRequest, notFound } from '../fhir/outcome';
import type { Caller } from '../repository/caller';
import type { HistoryEntry } from '../repository/history';
import type { Reads } from '../repository/reads';
import { callerOf } from './caller';
import type { RestContext } from './context';
import { bundleText, type BundleEntry } from './bundle';
import { checkParamNames, sendBundle } from './http';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;

const STATUS: Record<string, string> = { POST: '201 Created', PUT: '200 OK', PATCH: '200 OK', DELETE: '204 No Content' };

/** A repeated parameter counts once: its last value. */
function last(query: URLSearchParams, name: string): string | undefined {
  return query.getAll(name).at(-1);
}

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
    response: { status: e.deleted ? '204 No Content' : (STATUS[e.method] ?? '200 OK'), etag: `W/"${e.versionId}"`, lastModified: e.lastUpdated },
  };
  if (e.content) out.resource = e.content;
  return out;
}

/** The history interaction without HTTP: a page of the history of a resource, a type or the system, as a Bundle. */
export async function historyBundle(
  ctx: RestContext,
  reads: Reads,
  caller: Caller,
  scope: { type?: string; id?: string },
  query: URLSearchParams,
  lenient: boolean,
): Promise<string> {
  checkParamNames([...query.keys()], lenient, ['_count', '_since', '_at', '_cursor'], 'history');
  const { type, id } = scope;
  const tz = ctx.config.timeZone;
  const since = last(query, '_since');
  const at = last(query, '_at');
  const cursor = last(query, '_cursor');
  const page = await reads.history(caller, {
    resourceType: type,
    id,
    since: since !== undefined ? parseDateRange(since, tz, '_since').low : undefined,
    at: at !== undefined ? parseDateRange(at, tz, '_at') : undefined,
    count: parseCount(last(query, '_count')),
    cursor,
  });
  if (id && page.total === 0) throw notFound(`${type}/${id} is not known`);
  const path = [type, id, '_history'].filter(Boolean).join('/');
  const base = ctx.config.baseUrl;
  const params = new URLSearchParams();
  for (const name of ['_since', '_at', '_count']) {
    const v = last(query, name);
    if (v !== undefined) params.set(name, v);
  }
  const selfParams = new URLSearchParams(params);
  if (cursor) selfParams.set('_cursor', cursor);
  const link = [{ relation: 'self', url: `${base}/${path}${selfParams.size ? `?${selfParams}` : ''}` }];
  if (page.next) {
    params.set('_cursor', page.next);
    link.push({ relation: 'next', url: `${base}/${path}?${params}` });
  }
  return bundleText(
    { type: 'history', total: page.total, link, lastUpdated: page.horizon },
    page.entries.map((e) => entry(base, e)),
  );
}

export async function history(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type?: string, id?: string): Promise<FastifyReply> {
  const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  const text = await historyBundle(ctx, ctx.repo, callerOf(req), { type, id }, query, req.fhir.prefer.lenient);
  return sendBundle(req, reply, text);
}
