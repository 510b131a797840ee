/**
 * The storage API (DESIGN.md §2): every path that reads or writes resources — REST interactions, bundles,
 * workflows — goes through this one class. The repository knows FHIR semantics (versions, conditional operations,
 * referential integrity) but nothing of HTTP. Every write is given the caller's context (caller.ts) and runs
 * through the write engine (write-engine.ts): a single create, update, patch or delete is a one-entry plan of
 * the same planner as bundle entries (bundle-plan.ts), and every written version passes its one commit point.
 */
import { inTransaction, type Db, type Pool, type PoolClient } from '../database/pool';
import { r4Model } from '../fhir/definitions';
import { isJsonObject, toJson, type JsonObject } from '../fhir/json';
import { OperationOutcomeError, badRequest, type Issue } from '../fhir/outcome';
import { collectReferences, type LocalReference } from '../fhir/references';
import { checkSearchParameter } from '../fhir/search/custom';
import { extractContainedIndexRows, extractIndexRows } from '../fhir/search/extract';
import { isProfileIssue, validateResource } from '../fhir/validation';
import type { PlanRequest, Work } from './bundle-plan';
import { danglingReferences, forgetImport, importBatch, type DanglingReference, type ImportItem } from './bulk-import';
import type { Caller } from './caller';
import { assertResourceType } from './identity';
import { Reads, readBatcher, RegistrySync, type ReadOptions } from './reads';
import { compileCriteria } from './search/compile/planner';
import { requirePermission, type AccessRestriction } from './search/compile/access';
import { restartReindex, type SearchParameterState } from './search/parameters';
import { resolveTerminology } from './search/terminology';
import type { Criterion } from '../fhir/search/criteria';
import { WriteEngine, type AfterWriteHook, type CommitOptions } from './write-engine';
import type { StoredVersion, WritePlanner, WriteResult } from './versions';
import type { VersionWrite, WriteMethod } from './writes';
import { metaInUse } from './meta';
import { admitSubscription } from '../fhir/subscription';
import { EMPTY_ALLOW, endpointProblem, type AllowList } from '../events/subscriptions/address-guard';
import type { UniqueIdentifierRule } from '../fhir/registries';

export { assertId, assertResourceType, parseVersionTag } from './identity';

export type { StoredVersion, WriteOutcome, WriteResult } from './versions';

export interface RepositoryOptions extends ReadOptions {
  referentialIntegrity: boolean;
  /** Concurrent group-commit statements for plain creates (coalesce.ts); default 2. */
  groupCommitStatements?: number;
  /** Concurrent batched read-by-id statements per process (coalesce.ts, reads.ts readBatcher); default 1. */
  readStatements?: number;
  /** Hooks of the write engine's commit point (write-engine.ts AfterWriteHook); none by default. */
  afterWrite?: AfterWriteHook[];
  /** Every written version gets its event_outbox row, written by the write statement itself (DESIGN.md §4); off by default. */
  outbox?: boolean;
  /** AROGYA_SUBSCRIPTION_ALLOW: internal rest-hook endpoints an operator allows (none by default). */
  subscriptionAllow?: AllowList;
  /** Identifiers that name one resource only, claimed on write (fhir/registries.ts); none by default. */
  uniqueIdentifiers?: readonly UniqueIdentifierRule[];
  /** Most search index values a written resource may have (AROGYA_MAX_INDEX_VALUES); no limit when unset. */
  maxIndexValues?: number;
}

const NOT_A_RESOURCE = 'The body must be a JSON object (a FHIR resource)';

/** JSON.stringify escapes exactly the unpaired surrogates (`\ud800`); an escaped backslash before `u` is not one. */
const LONE_SURROGATE_ESCAPE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/;

/** The storage API: the read path (reads.ts) on the pool, and every write through the write engine. */
export class Repository extends Reads implements WritePlanner {
  /** Every write runs through it (write-engine.ts); its `afterWrite` hooks see every committed version. */
  readonly engine: WriteEngine;

  constructor(
    pool: Pool,
    override readonly options: RepositoryOptions,
  ) {
    super(pool, pool, options, new RegistrySync(pool), readBatcher(pool, options.readStatements ?? 1));
    this.engine = new WriteEngine(this, pool, {
      groupCommitStatements: options.groupCommitStatements,
      afterWrite: options.afterWrite,
      outbox: options.outbox,
    });
  }

  /** Called by the commit point when it wrote a SearchParameter: the registry is synced before the next search or write. */
  searchParametersWritten(): void {
    this.registry.markStale();
  }

  /** The read path on the connection of a transaction in progress: its reads see that transaction's writes. */
  within(client: Db): Reads {
    return new Reads(client, this.pool, this.options, this.registry);
  }

  /**
   * `fn` with reads on a connection of its own whose statements each end within `statementTimeoutMs` (a
   * transaction); the wait for that connection ends within `maxWaitMs` (database/pool.ts `connect`).
   */
  capped<T>(statementTimeoutMs: number, fn: (reads: Reads) => Promise<T>, maxWaitMs?: number): Promise<T> {
    return inTransaction(
      this.pool,
      async (client) => {
        await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(statementTimeoutMs))}`);
        return fn(this.within(client));
      },
      'BEGIN',
      maxWaitMs,
    );
  }

  /** `$reindex`: starts the reindex of a custom search parameter's current definition over (search/parameters.ts). */
  async restartReindex(id: string): Promise<SearchParameterState> {
    const state = await restartReindex(this.pool, id);
    await this.syncSearchParameters(true);
    return state;
  }

  /** A bulk import job's batch (bulk-import.ts): written in one transaction, recorded for the job's reference check. */
  importBatch(caller: Caller, items: ImportItem[], record?: { jobId: string; input: number }): Promise<void> {
    // each batch is a plan of updates by id through the write engine, integrity deferred to the job's end
    const write = async (client: PoolClient, batch: ImportItem[]): Promise<void> => {
      const updates = batch.map(
        (it, index): PlanRequest => ({
          op: 'update',
          type: it.resourceType,
          id: it.id,
          index,
          method: 'PUT',
          url: `${it.resourceType}/${it.id}`,
          resource: it.resource,
        }),
      );
      await this.engine.within(client, caller, updates, 'import', 'minimal');
    };
    return importBatch(this.pool, write, items, record);
  }

  /** Drops a bulk import job's record of what it wrote. */
  forgetImport(jobId: string): Promise<void> {
    return forgetImport(this.pool, jobId);
  }

  /** The references of a bulk import job's resources that name no current resource the caller may reference (bulk-import.ts). */
  danglingImportReferences(caller: Caller, jobId: string, batch: (refs: DanglingReference[]) => Promise<void>): Promise<void> {
    return danglingReferences(this.pool, caller, jobId, batch);
  }

  /**
   * Ids of current resources matching each query's parsed criteria (conditional operations and references of
   * the write engine's plans), at most its `limit`: one statement per 100 criteria, a UNION ALL of predicates,
   * each branch with its own LIMIT. Returns the ids per query, in order. Used by repository/bundle-plan.ts.
   */
  async findIdsMany(
    client: Pool | PoolClient,
    queries: { resourceType: string; criteria: Criterion[]; limit: number }[],
    access?: AccessRestriction,
  ): Promise<string[][]> {
    const out: string[][] = queries.map(() => []);
    for (let start = 0; start < queries.length; start += 100) {
      const chunk = queries.slice(start, start + 100);
      const params: unknown[] = [];
      const parts: string[] = [];
      for (const [i, q] of chunk.entries()) {
        if (q.criteria.length === 0) throw badRequest('A conditional reference or operation needs at least one search criterion');
        await resolveTerminology(this.pool, q.criteria, this.options.profiles?.terminology);
        const where = compileCriteria(q.resourceType, q.criteria, params, access);
        parts.push(`(SELECT ${start + i}::int AS q, r.id FROM resource r WHERE ${where.sql} LIMIT ${Math.max(1, Math.floor(q.limit))})`);
      }
      const { rows } = await client.query<{ q: number; id: string }>(parts.join(' UNION ALL '), params);
      for (const r of rows) out[r.q].push(r.id);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes

  /**
   * Validates and normalises a resource for writing; throws 400 with every issue on error. `caller` is who writes
   * (a Subscription's admission depends on it: fhir/subscription.ts).
   */
  prepare(resource: unknown, expectedType: string, id: string, caller?: Caller): { resource: JsonObject; warnings: Issue[] } {
    if (!isJsonObject(resource)) throw badRequest(NOT_A_RESOURCE);
    if (typeof resource.resourceType !== 'string') throw badRequest('The resource has no resourceType', 'resourceType');
    if (resource.resourceType !== expectedType) {
      throw badRequest(`The resource is a ${resource.resourceType}, but this endpoint takes ${expectedType}`, 'resourceType');
    }
    const body: JsonObject = { ...resource, id };
    if (isJsonObject(body.meta)) {
      const meta: JsonObject = { ...body.meta };
      delete meta.versionId; // server-managed (http.html#create: ignored when sent)
      delete meta.lastUpdated;
      if (Object.keys(meta).length) body.meta = meta;
      else delete body.meta;
    }
    // Keep resourceType and id first, as readers expect.
    const ordered: JsonObject = { resourceType: body.resourceType, id };
    for (const [k, v] of Object.entries(body)) if (k !== 'resourceType' && k !== 'id') ordered[k] = v;
    // AROGYA_REQUIRE_PROFILES: what the server's own workflows write claims the required profile (and must conform).
    if (caller?.workflow && this.options.profiles) this.options.profiles.claimRequired(ordered);
    const issues = validateResource(ordered, { expectedType, profiles: this.options.profiles });
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    // Base R4 violations are a 400; a resource refused only by its profiles is a 422 (http.html#2.21.0.5).
    if (errors.length) throw new OperationOutcomeError(errors.every(isProfileIssue) ? 422 : 400, issues);
    if (expectedType === 'SearchParameter') {
      // A custom search parameter the server could not serve is refused here, resource by resource (custom.ts).
      const check = checkSearchParameter(ordered);
      if (check.kind === 'refused') throw new OperationOutcomeError(422, check.issues);
    }
    if (expectedType === 'Subscription') {
      // Admission (fhir/subscription.ts): status requested → active, criteria parsed by the search grammar,
      // supported channels only, rest-hook endpoints outside the internal network (address-guard.ts).
      const allow = this.options.subscriptionAllow ?? EMPTY_ALLOW;
      const admitted = admitSubscription(ordered, {
        timeZone: this.options.timeZone,
        baseUrl: this.options.baseUrl,
        system: caller?.actor.kind === 'system',
        endpointProblem: (url) => endpointProblem(url, allow),
      });
      return { resource: admitted, warnings: issues };
    }
    return { resource: ordered, warnings: issues };
  }

  /** Plans the write of one version: serialisation, search-value extraction and references; no I/O. */
  planVersion(
    v: { resourceType: string; id: string; versionId: number; method: WriteMethod; insert: boolean },
    resource: JsonObject | undefined,
    /** The resource's local references, when the caller has collected them already. */
    links?: LocalReference[],
    /**
     * Called before each expensive step (serialisation, index extraction, contained extraction, references): a
     * request's deadline (deadline.ts) throws from it, so one huge resource overshoots it by one step at most.
     */
    step?: () => void,
  ): VersionWrite {
    if (resource && v.resourceType === 'SearchParameter') {
      // Custom search parameters: refused on write when the server could not serve them (fhir/search/custom.ts).
      const check = checkSearchParameter(resource);
      if (check.kind === 'refused') throw new OperationOutcomeError(422, check.issues);
    }
    step?.();
    const content = resource ? toJson(resource) : undefined;
    // PostgreSQL text cannot hold U+0000, and FHIR strings have no use for it: refuse rather than fail in SQL.
    if (content?.includes('\\u0000')) throw badRequest('The resource contains a NUL character (U+0000), which FHIR strings may not contain');
    // Validation refuses lone surrogates by element; this guards every other way in (PostgreSQL would fail on it).
    if (content?.includes('\\ud') && LONE_SURROGATE_ESCAPE.test(content)) {
      throw badRequest('The resource contains an unpaired UTF-16 surrogate (a lone \\uD800–\\uDFFF escape), which is not a character');
    }
    const extract = { timeZone: this.options.timeZone, baseUrl: this.options.baseUrl, maxIndexValues: this.options.maxIndexValues };
    step?.();
    const index = resource ? extractIndexRows(resource, extract) : {};
    step?.();
    const contained = resource ? extractContainedIndexRows(resource, extract) : undefined;
    if (!links && resource) step?.();
    return { ...v, content, index, contained, links: links ?? (resource ? collectReferences(resource, this.options.baseUrl).local : []) };
  }

  /**
   * Writes planned versions through the write engine's commit point (write-engine.ts) — for seeding and loading
   * tools that plan versions themselves; `caller` defaults to the system.
   */
  executeWrites(client: Pool | PoolClient, writes: VersionWrite[], opts: CommitOptions = {}): Promise<StoredVersion[]> {
    return this.engine.commit(client, writes, opts);
  }

  /** Profiles, tags and security labels in use on the current resources of a type, or of every type ($meta). */
  async metaInUse(caller: Caller, resourceType?: string): Promise<JsonObject> {
    if (resourceType !== undefined) assertResourceType(resourceType);
    requirePermission(caller.access, 's', resourceType);
    return metaInUse(this.pool, resourceType !== undefined ? [resourceType] : r4Model().resourceTypes, caller.access);
  }

  // Single-resource writes: each a one-entry plan of the write engine (write-engine.ts, bundle-plan.ts).

  /** https://hl7.org/fhir/R4/http.html#create (+ conditional create with If-None-Exist). */
  async create(caller: Caller, resource: unknown, resourceType: string, opts: { ifNoneExist?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const ifNoneExist = opts.ifNoneExist?.replace(/^\?/, '');
    const w = await this.engine.one(caller, {
      op: 'create',
      type: resourceType,
      ifNoneExist,
      index: 0,
      method: 'POST',
      url: resourceType,
      resource: asResource(resource),
    });
    return writeResult(w);
  }

  /**
   * https://hl7.org/fhir/R4/http.html#update — update, or update-as-create when the id is new. A body identical
   * to the current version (ignoring server meta) creates no version (outcome 'unchanged').
   */
  async update(caller: Caller, resourceType: string, id: string, resource: unknown, opts: { ifMatch?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const url = `${resourceType}/${id}`;
    return writeResult(
      await this.engine.one(caller, {
        op: 'update',
        type: resourceType,
        id,
        index: 0,
        method: 'PUT',
        url,
        resource: asResource(resource),
        ifMatch: opts.ifMatch,
      }),
    );
  }

  /** https://hl7.org/fhir/R4/http.html#cond-update */
  async conditionalUpdate(
    caller: Caller,
    resourceType: string,
    criteria: string,
    resource: unknown,
    opts: { ifMatch?: string } = {},
  ): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const url = `${resourceType}?${criteria}`;
    return writeResult(
      await this.engine.one(caller, {
        op: 'update',
        type: resourceType,
        criteria,
        index: 0,
        method: 'PUT',
        url,
        resource: asResource(resource),
        ifMatch: opts.ifMatch,
      }),
    );
  }

  /**
   * https://hl7.org/fhir/R4/http.html#patch — `apply` turns the current resource into the patched one; the target
   * is `{ id }`, or `{ criteria }` for a conditional patch (its single match).
   */
  async patch(
    caller: Caller,
    resourceType: string,
    target: { id: string } | { criteria: string },
    apply: (current: JsonObject) => unknown,
    opts: { ifMatch?: string } = {},
  ): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const url = 'id' in target ? `${resourceType}/${target.id}` : `${resourceType}?${target.criteria}`;
    return writeResult(
      await this.engine.one(caller, {
        op: 'patch',
        type: resourceType,
        ...target,
        index: 0,
        method: 'PATCH',
        url,
        patch: apply,
        ifMatch: opts.ifMatch,
      }),
    );
  }

  /** https://hl7.org/fhir/R4/http.html#delete — idempotent; 409 while other resources still reference it. */
  async delete(caller: Caller, resourceType: string, id: string, opts: { ifMatch?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    return writeResult(
      await this.engine.one(caller, {
        op: 'delete',
        type: resourceType,
        id,
        index: 0,
        method: 'DELETE',
        url: `${resourceType}/${id}`,
        ifMatch: opts.ifMatch,
      }),
    );
  }

  /**
   * https://hl7.org/fhir/R4/http.html#cdelete — every match is deleted (up to the plan's limit, else 412), in one
   * transaction: one result per deleted resource.
   */
  async conditionalDelete(caller: Caller, resourceType: string, criteria: string): Promise<WriteResult[]> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const w = await this.engine.one(caller, {
      op: 'delete',
      type: resourceType,
      criteria,
      index: 0,
      method: 'DELETE',
      url: `${resourceType}?${criteria}`,
    });
    return (w.written ?? []).map((v) => ({ ...v, outcome: 'deleted' as const, warnings: [] }));
  }
}

/** The body of a write must be a resource (a JSON object); Repository.prepare says what else is wrong with it. */
function asResource(body: unknown): JsonObject {
  if (!isJsonObject(body)) throw badRequest(NOT_A_RESOURCE);
  return body;
}

/** A single interaction's entry, as the REST layer answers it. */
function writeResult(w: Work): WriteResult {
  const type = (w.req as { type: string }).type;
  const outcome = w.effect!;
  const version = w.written?.length ? w.written[w.written.length - 1] : w.stored;
  if (!version) return { resourceType: type, id: w.id ?? '', versionId: 0, lastUpdated: '', deleted: true, outcome, warnings: [] };
  // A conditional create that found its resource answers with it, without the warnings of the body not written.
  return { ...version, outcome, warnings: outcome === 'existing' ? [] : w.warnings };
}
