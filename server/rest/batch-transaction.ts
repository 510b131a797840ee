/**
 * batch / transaction — https://hl7.org/fhir/R4/http.html#transaction and http.html#batch: `POST [base]` with a
 * Bundle of type `transaction` (all or nothing) or `batch` (each entry on its own). The work is the
 * TransactionProcessor's (repository/transaction.ts); this module reads the request, runs GET/HEAD entries (reads,
 * vreads and searches, like their REST counterparts) and answers with a `transaction-response` or `batch-response`
 * Bundle: one entry per request entry, in order, each with response.status, location, etag and lastModified.
 *
 * Prefer (http.html#ops) applies to each entry: without it entries carry no resource (return=minimal — the client
 * sent the resources); `return=representation` adds each resource as stored, `return=OperationOutcome` an outcome.
 * A failed transaction answers with the failing entry's status and an OperationOutcome naming the entry.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Pool, PoolClient } from '../database/pool';
import { OperationOutcomeError, badRequest, issue, notSupported } from '../fhir/outcome';
import { isJsonObject } from '../fhir/json';
import { relativeUrl } from '../fhir/bundle-request';
import { TransactionProcessor, statusText, type EntryResult, type ReadRequest } from '../repository/transaction';
import type { RestContext } from './context';
import { bundleText, type BundleEntry } from './bundle';
import { resourceBody } from './body';
import { callerOf } from './caller';
import { etag, sendBundle } from './http';

const READ_COUNT = 20;
const MAX_READ_COUNT = 1000;

/** A GET/HEAD entry: read, vread or type search (with If-None-Match / If-Modified-Since as on a REST read). */
async function readEntry(ctx: RestContext, client: Pool | PoolClient, r: ReadRequest): Promise<EntryResult> {
  const url = relativeUrl(r.url, ctx.config.baseUrl);
  const [path, query = ''] = url.split(/\?(.*)/s, 2);
  const parts = path.split('/');
  const head = r.method === 'HEAD';
  if (parts.length === 2 || (parts.length === 4 && parts[2] === '_history')) {
    const [type, id, , vid] = parts;
    const v = vid === undefined ? await ctx.repo.read(type, id, client) : await ctx.repo.vread(type, id, vid, client);
    const out: EntryResult = {
      status: statusText(200),
      effect: 'read',
      target: { type, id },
      etag: etag(v.versionId),
      lastModified: v.lastUpdated,
      location: `${type}/${id}/_history/${v.versionId}`,
    };
    const inm = r.ifNoneMatch?.split(',').map((t) => t.trim().replace(/^W\//, ''));
    const notModified =
      (inm && inm.some((t) => t === '*' || t === `"${v.versionId}"`)) ||
      (r.ifModifiedSince !== undefined && inm === undefined && Math.floor(Date.parse(v.lastUpdated) / 1000) * 1000 <= Date.parse(r.ifModifiedSince));
    if (notModified) return { ...out, status: statusText(304) };
    if (!head) out.resource = v.content;
    return out;
  }
  if (parts.length === 1 && /^[A-Z][A-Za-z]+$/.test(parts[0])) {
    const type = parts[0];
    const params = new URLSearchParams(query);
    const countRaw = params.get('_count');
    if (countRaw !== null && !/^\d+$/.test(countRaw)) throw badRequest(`_count must be a non-negative integer, got '${countRaw}'`, '_count');
    const count = Math.min(countRaw === null ? READ_COUNT : Number(countRaw), MAX_READ_COUNT);
    const cursor = params.get('_cursor') ?? undefined;
    for (const c of ['_count', '_cursor', '_total', '_format', '_pretty']) params.delete(c);
    // Searches read committed data (the search layer has its own connection), not this transaction's writes.
    const page = await ctx.repo.search(type, params, { count, cursor, total: true });
    const base = ctx.config.baseUrl;
    const link = [{ relation: 'self', url: `${base}/${url}` }];
    if (page.next) {
      const next = new URLSearchParams(query);
      next.set('_cursor', page.next);
      link.push({ relation: 'next', url: `${base}/${type}?${next}` });
    }
    const entries: BundleEntry[] = page.resources.map((v) => ({ fullUrl: `${base}/${type}/${v.id}`, resource: v.content, search: { mode: 'match' } }));
    const out: EntryResult = { status: statusText(200), effect: 'read' };
    if (!head) out.resource = bundleText({ type: 'searchset', total: page.total, link }, entries);
    return out;
  }
  throw notSupported(`${r.method} ${r.url}: only reads ([type]/[id]), vreads and type searches are supported inside a Bundle`);
}

export async function batchOrTransaction(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const body = resourceBody(req);
  const count = isJsonObject(body) && Array.isArray(body.entry) ? body.entry.length : 0;
  if (count > ctx.config.maxBundleEntries) {
    throw new OperationOutcomeError(400, [
      issue('error', 'too-costly', `The Bundle has ${count} entries; the server's limit is ${ctx.config.maxBundleEntries} (AROGYA_MAX_BUNDLE_ENTRIES)`, 'Bundle.entry'),
    ]);
  }
  const processor = new TransactionProcessor(ctx.repo, ctx.pool);
  // Bundles default to return=minimal: the client sent the resources (module docstring).
  const prefer = req.fhir.prefer.return ?? 'minimal';
  const { type, results } = await processor.process(callerOf(req), body, { prefer, read: (client, r) => readEntry(ctx, client, r) });
  const base = ctx.config.baseUrl;
  const entries: BundleEntry[] = results.map((r) => {
    const e: BundleEntry = { response: { status: r.status } };
    if (r.target) e.fullUrl = `${base}/${r.target.type}/${r.target.id}`;
    if (r.resource !== undefined) e.resource = r.resource;
    if (r.location) e.response!.location = r.location;
    if (r.etag) e.response!.etag = r.etag;
    if (r.lastModified) e.response!.lastModified = r.lastModified;
    if (r.outcome) e.response!.outcome = r.outcome;
    return e;
  });
  return sendBundle(req, reply, bundleText({ type: type === 'transaction' ? 'transaction-response' : 'batch-response' }, entries));
}

