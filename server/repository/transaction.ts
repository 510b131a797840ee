/**
 * TransactionProcessor — batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction,
 * https://hl7.org/fhir/R4/http.html#batch, https://hl7.org/fhir/R4/bundle.html), through the write engine
 * (write-engine.ts) with the caller's context.
 *
 * - transaction: every entry in ONE PostgreSQL transaction, planned and written set-based (bundle-plan.ts); any
 *   failing entry rolls everything back and the error names the entry. Serialisation failures, deadlocks and a
 *   lost race on a new id are retried with a fresh plan (a plan never mutates the bundle it was given).
 * - batch: entries are independent, each with its own status. For speed they are processed in passes of up to
 *   PASS_SIZE entries, one PostgreSQL transaction per pass, where a failing entry is set aside and the others go
 *   on; entries colliding with an earlier one of the pass wait for the next pass. If a pass fails as a whole (a
 *   database error, not an entry's), its entries are redone one by one, each in its own transaction — so one
 *   failure never affects the others. GET/HEAD entries run last, each on its own.
 *
 * The result is one EntryResult per entry, in bundle order; the REST layer (rest/batch-transaction.ts) and the
 * import CLI turn them into a response Bundle or a summary.
 */
import { databaseFailure, databaseFailureOutcome } from '../database/errors';
import { ConnectionWaitExceeded } from '../database/pool';
import { isParseError, parseBundleRequest, type EntryParseError, type EntryRequest } from '../fhir/bundle-request';
import type { JsonValue } from '../fhir/json';
import { OperationOutcomeError, issue, type Issue } from '../fhir/outcome';
import { entryError, type BundlePlan, type EntryResult, type PreferReturn, type ReadRequest, type Work } from './bundle-plan';
import type { Caller } from './caller';
import { DeadlineExceeded, type Deadline } from './deadline';
import type { Reads } from './reads';
import type { Repository } from './repository';
import { ATTEMPTS } from './write-engine';

export type { EntryResult, PreferReturn, ReadRequest } from './bundle-plan';

/**
 * Runs a GET/HEAD entry through the read path it is given: in a transaction, the transaction's own connection
 * (Repository.within), so the entry sees the bundle's writes (the REST layer owns reads: search bundles, 304s, …).
 */
export type EntryReader = (reads: Reads, request: ReadRequest) => Promise<EntryResult>;

export interface ProcessOptions {
  /** Prefer: return=… for each entry (default minimal: status, location, etag, lastModified only). */
  prefer?: PreferReturn;
  /** Runs GET/HEAD entries; without it they fail as unsupported. */
  read?: EntryReader;
  /** Batch: called after each pass with the number of entries answered so far (progress bars). */
  progress?: (answered: number) => void;
  /**
   * The request's deadline (deadline.ts; none for the import CLI): a transaction that runs into it rolls back and
   * throws DeadlineExceeded (503); a batch answers each entry it had not finished with a 503 OperationOutcome.
   */
  deadline?: Deadline;
}

const NOT_PROCESSED = 'The entry was not processed (nothing of it was written)';

/**
 * Whether `e` is the deadline's doing: its own check, a wait for a pool connection it bounded (the only bound a
 * deadline's work gives `connect`), or a statement it cut short.
 */
function stoppedBy(deadline: Deadline | undefined, e: unknown): deadline is Deadline {
  return (
    deadline !== undefined &&
    (e instanceof DeadlineExceeded || e instanceof ConnectionWaitExceeded || (deadline.passed && databaseFailure(e) === 'timeout'))
  );
}

/** Entries per batch pass (and so per PostgreSQL transaction): bounds statement size and advisory locks held. */
export const PASS_SIZE = 500;

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function statusText(status: number): string {
  return `${status} ${REASONS[status] ?? ''}`.trim();
}

/** The spec's processing order: DELETE, POST, PUT/PATCH, then GET/HEAD. */
function rank(r: EntryRequest): number {
  return r.method === 'DELETE' ? 0 : r.method === 'POST' ? 1 : r.method === 'PUT' || r.method === 'PATCH' ? 2 : 3;
}

export function errorResult(e: OperationOutcomeError): EntryResult {
  return { status: statusText(e.status), outcome: e.outcome, effect: 'failed' };
}

/** The response of one written entry (an alias answers with the resource of the entry it duplicates). */
function resultOf(w: Work, prefer: PreferReturn): EntryResult {
  if (w.error) return errorResult(w.error);
  if (w.readResult) return w.readResult;
  const source = w.aliasOf ?? w;
  const type = (w.req as { type: string }).type;
  const effect = w.aliasOf ? 'existing' : w.effect!;
  const version = source.written?.length ? source.written[source.written.length - 1] : source.stored;
  if (w.req.op === 'delete') {
    const out: EntryResult = { status: statusText(204), effect };
    if (effect === 'deleted' && version) {
      out.etag = `W/"${version.versionId}"`;
      out.lastModified = version.lastUpdated;
    }
    if (prefer === 'OperationOutcome')
      out.outcome = { resourceType: 'OperationOutcome', issue: [issue('information', 'informational', deleteText(w, type))] };
    return out;
  }
  const out: EntryResult = { status: statusText(effect === 'created' ? 201 : 200), effect, target: { type, id: source.id! } };
  if (version) {
    out.location = `${type}/${version.id}/_history/${version.versionId}`;
    out.etag = `W/"${version.versionId}"`;
    out.lastModified = version.lastUpdated;
    if (prefer === 'representation') out.resource = version.content;
  }
  // entry.response.outcome carries "hints and warnings produced as part of processing this entry" (R4 Bundle):
  // always when there are any, and with Prefer: return=OperationOutcome an informational one otherwise.
  if (prefer === 'OperationOutcome' || w.warnings.length) {
    const issues: Issue[] = w.warnings.length ? w.warnings : [issue('information', 'informational', `${effect}: ${type}/${source.id}`)];
    out.outcome = { resourceType: 'OperationOutcome', issue: issues };
  }
  return out;
}

function deleteText(w: Work, type: string): string {
  switch (w.effect) {
    case 'deleted':
      return `Deleted ${w.writes.map((v) => `${type}/${v.id}`).join(', ')}`;
    case 'unchanged':
      return `${type}/${w.id} was already deleted`;
    default:
      return w.deleteIds?.length === 0 ? `No ${type} matched; nothing was deleted` : `${type}/${w.id} does not exist`;
  }
}

export class TransactionProcessor {
  constructor(private readonly repo: Repository) {}

  /** Processes a batch or transaction Bundle (parsed JSON) for `caller`; throws for a failed transaction. */
  async process(caller: Caller, bundle: JsonValue, opts: ProcessOptions = {}): Promise<{ type: 'batch' | 'transaction'; results: EntryResult[] }> {
    const { type, entries } = parseBundleRequest(bundle, this.repo.options.baseUrl);
    const results = type === 'transaction' ? await this.transaction(caller, entries, opts) : await this.batch(caller, entries, opts);
    return { type, results };
  }

  /** All or nothing, in one PostgreSQL transaction. */
  async transaction(caller: Caller, entries: (EntryRequest | EntryParseError)[], opts: ProcessOptions = {}): Promise<EntryResult[]> {
    const bad = entries.find(isParseError);
    if (bad) throw entryError(bad, bad.error);
    const prefer = opts.prefer ?? 'minimal';
    const read = opts.read;
    const deadline = opts.deadline;
    try {
      const plan = await this.repo.engine.transact(caller, entries as EntryRequest[], 'transaction', prefer, {
        read: read && ((client, r) => read(this.repo.within(client), r)), // on the transaction's connection
        deadline,
      });
      return plan.works.map((w) => resultOf(w, prefer));
    } catch (e) {
      if (stoppedBy(deadline, e)) throw new DeadlineExceeded(deadline.limitMs, 'The transaction was rolled back: nothing of it was written');
      throw e;
    }
  }

  /** Each entry on its own: failures are reported per entry, never for the batch. */
  async batch(caller: Caller, entries: (EntryRequest | EntryParseError)[], opts: ProcessOptions = {}): Promise<EntryResult[]> {
    const prefer = opts.prefer ?? 'minimal';
    const results: EntryResult[] = new Array(entries.length);
    const writes: EntryRequest[] = [];
    const reads: EntryRequest[] = [];
    for (const e of entries) {
      if (isParseError(e)) results[e.index] = errorResult(entryError(e, e.error));
      else (e.op === 'read' ? reads : writes).push(e);
    }
    writes.sort((a, b) => rank(a) - rank(b) || a.index - b.index);
    // Entries redone alone after their pass failed as a whole.
    const alone = new Set<EntryRequest>();
    let pending = writes;
    const deadline = opts.deadline;
    /** Every entry not answered yet gets the deadline's 503 (none of them was written: their passes rolled back). */
    const stop = (d: Deadline): void => {
      const err = new DeadlineExceeded(d.limitMs, NOT_PROCESSED);
      for (const r of [...pending, ...reads]) if (!results[r.index]) results[r.index] = errorResult(entryError(r, err));
      pending = [];
    };
    while (pending.length) {
      if (deadline?.passed) {
        stop(deadline);
        break;
      }
      const pass = alone.has(pending[0]) ? [pending[0]] : pending.slice(0, PASS_SIZE).filter((r) => !alone.has(r));
      const inPass = new Set(pass);
      const rest = pending.filter((r) => !inPass.has(r));
      let plan: BundlePlan | undefined;
      try {
        plan = await this.repo.engine.transact(caller, pass, 'batch', prefer, { attempts: pass.length === 1 ? ATTEMPTS : 1, deadline });
      } catch (e) {
        if (stoppedBy(deadline, e)) {
          stop(deadline);
          break;
        }
        if (pass.length > 1) {
          for (const r of pass) alone.add(r);
          pending = [...pass, ...rest];
          continue;
        }
        // Database details stay out of the response, as for any 500 (rest/errors.ts); a database that is down or
        // slow is a 503 for the entry, as it would be for the request.
        const err =
          e instanceof OperationOutcomeError
            ? e
            : (databaseFailureOutcome(e) ??
              new OperationOutcomeError(500, [issue('fatal', 'exception', 'The entry could not be processed (a database error)')]));
        results[pass[0].index] = errorResult(entryError(pass[0], err));
        pending = rest;
        continue;
      }
      const deferred: EntryRequest[] = [];
      for (const w of plan.works) {
        if (w.deferred) deferred.push(w.req);
        else results[w.req.index] = resultOf(w, prefer);
      }
      pending = [...deferred, ...rest];
      opts.progress?.(entries.length - pending.length - reads.length);
    }
    for (const r of reads) {
      if (results[r.index]) continue;
      if (deadline?.passed) results[r.index] = errorResult(entryError(r, new DeadlineExceeded(deadline.limitMs, NOT_PROCESSED)));
      else results[r.index] = await this.readAlone(r, opts);
    }
    return results;
  }

  private async readAlone(r: EntryRequest, opts: ProcessOptions): Promise<EntryResult> {
    const read = opts.read;
    if (!read)
      return errorResult(entryError(r, new OperationOutcomeError(400, [issue('error', 'not-supported', 'GET/HEAD entries are not supported here')])));
    const request: ReadRequest = {
      index: r.index,
      method: r.method as 'GET' | 'HEAD',
      url: r.url,
      ifNoneMatch: r.ifNoneMatch,
      ifModifiedSince: r.ifModifiedSince,
    };
    const deadline = opts.deadline;
    try {
      if (!deadline) return await read(this.repo, request);
      // under a deadline, the read's statements end by it (one transaction with the statement cap)
      return await this.repo.capped(deadline.statementTimeout(), (reads) => read(reads, request), deadline.connectionWait(NOT_PROCESSED));
    } catch (e) {
      // the entry alone fails: the batch's other entries (some committed) are answered as they are
      const err = stoppedBy(deadline, e)
        ? new DeadlineExceeded(deadline.limitMs, NOT_PROCESSED)
        : e instanceof OperationOutcomeError
          ? e
          : databaseFailureOutcome(e);
      if (!err) throw e;
      return errorResult(entryError(r, err));
    }
  }
}
