/**
 * batch / transaction — https://hl7.org/fhir/R4/http.html#transaction and http.html#batch: `POST [base]` with a
 * Bundle of type `transaction` (all or nothing) or `batch` (each entry on its own). The work is the
 * TransactionProcessor's (repository/transaction.ts); this module reads the request, runs GET/HEAD entries through
 * the same interaction functions as the HTTP routes (read, vread, search, history — without the HTTP wrapping) and
 * answers with a `transaction-response` or `batch-response` Bundle: one entry per request entry, in order, each
 * with response.status, location, etag and lastModified.
 *
 * A transaction's GET entries run last (R4 order: DELETE, POST, PUT/PATCH, then GET) on the transaction's own
 * connection, so they see its writes; a batch's run after its writes, each on its own.
 *
 * Prefer (http.html#ops) applies to each entry: without it entries carry no resource (return=minimal — the client
 * sent the resources); `return=representation` adds each resource as stored, `return=OperationOutcome` an outcome.
 * A failed transaction answers with the failing entry's status and an OperationOutcome naming the entry.
 *
 * The request's deadline (AROGYA_REQUEST_DEADLINE_MS, repository/deadline.ts) bounds the work: a transaction that
 * runs into it rolls back and answers 503 with Retry-After; a batch answers its finished entries as usual and every
 * entry it had not finished with `503` and an OperationOutcome (its writes rolled back with its pass).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isResourceType, r4Model } from '../fhir/definitions';
import { isJsonObject } from '../fhir/json';
import { OperationOutcomeError, badRequest, issue, notFound, notSupported } from '../fhir/outcome';
import { relativeUrl } from '../fhir/bundle-request';
import type { Caller } from '../repository/caller';
import { Deadline } from '../repository/deadline';
import type { Reads } from '../repository/reads';
import type { StoredVersion } from '../repository/versions';
import { parseTypes } from '../fhir/search/controls';
import { TransactionProcessor, statusText, type EntryResult, type ReadRequest } from '../repository/transaction';
import { callerOf } from './caller';
import type { RestContext } from './context';
import { bundleText, type BundleEntry } from './bundle';
import { writtenBody } from './body';
import { etag, sendBundle } from './http';
import { historyBundle } from './history';
import { readResource } from './read';
import { compartmentScope, searchBundle, type SearchScope } from './search';

const isType = (s: string | undefined): s is string => s !== undefined && isResourceType(s);

/**
 * A GET/HEAD entry, dispatched like its HTTP request: `[type]/[id]` read (If-None-Match / If-Modified-Since → 304),
 * `[type]/[id]/_history/[vid]` vread, `…/_history` history, `[type]?…`, `?_type=…` and `[compartment]/[id]/[type]?…`
 * searches.
 */
async function readEntry(ctx: RestContext, caller: Caller, lenient: boolean, reads: Reads, r: ReadRequest): Promise<EntryResult> {
  const url = relativeUrl(r.url, ctx.config.baseUrl);
  const [path, query = ''] = url.split(/\?(.*)/s, 2);
  const parts = path === '' ? [] : path.split('/');
  const head = r.method === 'HEAD';
  const bundle = (text: string): EntryResult => ({ status: statusText(200), effect: 'read', ...(head ? {} : { resource: text }) });
  const search = async (scope: SearchScope): Promise<EntryResult> => {
    const params = [...new URLSearchParams(query)];
    // Entries of such a page name [type]/[id]: contained resources (and their containers) have no place in it.
    const contained = params.find(([k]) => k === '_contained')?.[1];
    if (contained !== undefined && contained !== 'false') {
      throw badRequest(`_contained=${contained} is not supported in a Bundle entry's search; use GET [base]/${scope.path}?…`, '_contained');
    }
    return bundle(await searchBundle(ctx, reads, caller, scope, params, { lenient }));
  };
  const history = async (type?: string, id?: string): Promise<EntryResult> =>
    bundle(await historyBundle(ctx, reads, caller, { type, id }, new URLSearchParams(query), lenient));
  const [type, id, third, vid] = parts;
  if (type !== undefined && type !== '_history' && !isType(type)) throw notFound(`Unknown resource type '${type}'`);

  if (parts.length === 0) return search({ types: parseTypes([...new URLSearchParams(query)]), path: '' });
  if (parts.length === 1 && parts[0] === '_history') return history();
  if (parts.length === 1 && isType(type)) return search({ types: [type], path: type });
  if (parts.length === 2 && isType(type) && id === '_history') return history(type);
  if (parts.length === 3 && isType(type) && third === '_history') return history(type, id);
  if (parts.length === 3 && r4Model().compartments[type] && isType(third)) return search(compartmentScope(type, id, third));
  if ((parts.length === 2 || (parts.length === 4 && third === '_history')) && isType(type) && !id.startsWith('$')) {
    let v: StoredVersion;
    let notModified = false;
    if (vid === undefined) ({ version: v, notModified } = await readResource(reads, caller, type, id, r));
    else v = await reads.vread(caller, type, id, vid);
    const out: EntryResult = {
      status: statusText(notModified ? 304 : 200),
      effect: 'read',
      target: { type, id },
      etag: etag(v.versionId),
      lastModified: v.lastUpdated,
      location: `${type}/${id}/_history/${v.versionId}`,
    };
    if (!head && !notModified) out.resource = v.content;
    return out;
  }
  throw notSupported(`${r.method} ${r.url}: only reads, vreads, searches and history are supported inside a Bundle`);
}

export async function batchOrTransaction(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const body = await writtenBody(req);
  const count = isJsonObject(body) && Array.isArray(body.entry) ? body.entry.length : 0;
  if (count > ctx.config.maxBundleEntries) {
    throw new OperationOutcomeError(400, [
      issue(
        'error',
        'too-costly',
        `The Bundle has ${count} entries; the server's limit is ${ctx.config.maxBundleEntries} (AROGYA_MAX_BUNDLE_ENTRIES)`,
        'Bundle.entry',
      ),
    ]);
  }
  const processor = new TransactionProcessor(ctx.repo);
  const caller = callerOf(req);
  const lenient = req.fhir.prefer.lenient;
  // Bundles default to return=minimal: the client sent the resources (module docstring).
  const prefer = req.fhir.prefer.return ?? 'minimal';
  // The deadline counts from the request's arrival (reading and parsing the body included).
  const deadline = Deadline.after(ctx.config.requestDeadlineMs, ctx.config.statementTimeoutMs, Date.now() - reply.elapsedTime);
  const { type, results } = await processor.process(caller, body, {
    prefer,
    read: (reads, r) => readEntry(ctx, caller, lenient, reads, r),
    deadline,
  });
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
