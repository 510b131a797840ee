/**
 * The storage API (DESIGN.md §2): every path that reads or writes resources — REST interactions, bundles,
 * workflows — goes through this one class. Each method is one PostgreSQL transaction (or one autocommit
 * statement); the repository knows FHIR semantics (versions, conditional operations, referential integrity)
 * but nothing of HTTP.
 */
import crypto from 'node:crypto';
import type { Pool, PoolClient } from '../database/pool';
import { inTransaction } from '../database/pool';
import { WriteCoalescer } from './coalesce';
import { isResourceType } from '../fhir/definitions';
import { isJsonObject, parseStoredJson, toJson, type JsonObject } from '../fhir/json';
import {
  OperationOutcomeError,
  badRequest,
  conflict,
  gone,
  issue,
  notFound,
  preconditionFailed,
  type Issue,
} from '../fhir/outcome';
import { collectReferences, type LocalReference } from '../fhir/references';
import { checkSearchParameter } from '../fhir/search/custom';
import { extractContainedIndexRows, extractIndexRows } from '../fhir/search/extract';
import { validateResource } from '../fhir/validation';
import { compileCriteria } from './search/compile/planner';
import { executeSearch } from './search/execute';
import type { SearchRequest, SearchResult } from './search/request';
import { parseSearch } from '../fhir/search/parse';
import { recordSearchParameterWrites, syncSearchParameterRegistry } from './search/parameters';
import { resolveTerminology } from './search/terminology';
import { criteriaKey, type Criterion } from '../fhir/search/criteria';
import { parseCriteria } from '../fhir/search/parse';
import { INSTANT_SQL, KnownDictionaryValues, versionWritesStatement, type VersionWrite, type WriteMethod } from './writes';

export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  /** The resource's JSON text as stored (absent for a deletion). */
  content?: string;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged' | 'existing' | 'deleted' | 'not-found';

export interface WriteResult extends StoredVersion {
  outcome: WriteOutcome;
  /** Validation warnings (the write went ahead). */
  warnings: Issue[];
}

export interface RepositoryOptions {
  referentialIntegrity: boolean;
  /** Absolute references to this base are treated as local references. */
  baseUrl: string;
  /** Zone for search dates written without an offset. */
  timeZone: string;
  /** Concurrent group-commit statements for plain creates (coalesce.ts); default 2. */
  groupCommitStatements?: number;
}

export interface SearchPage {
  resources: StoredVersion[];
  total?: number;
  /** Continuation cursor when more results exist. */
  next?: string;
}

const READ_SQL = `SELECT version_id, ${INSTANT_SQL('last_updated')} AS last_updated, deleted, content FROM resource WHERE id = $1 AND resource_type = $2`;

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
const MAX_LISTED_REFERRERS = 20;

export function assertResourceType(type: string): void {
  if (!isResourceType(type)) throw notFound(`Unknown resource type '${type}'`);
}

export function assertId(id: string): void {
  if (!ID_PATTERN.test(id)) throw badRequest(`Invalid resource id '${id}': ids are 1-64 of [A-Za-z0-9-.]`);
}

/** A version precondition: `If-Match: W/"3"` → 3. */
export function parseVersionTag(tag: string): number {
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(tag.trim());
  if (!m) throw badRequest(`Malformed ETag '${tag}': expected W/"<versionId>"`);
  return Number(m[1]);
}

function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string }).code === '23505';
}

function isPoolClient(c: Pool | PoolClient): c is PoolClient {
  return typeof (c as PoolClient).release === 'function';
}

export class Repository {
  /** A SearchParameter was written by this process: sync the registry before the next search or write. */
  private searchParametersStale = false;
  /** Group commit of plain creates (coalesce.ts): at most this many write statements of them at a time. */
  private readonly creates: WriteCoalescer<StoredVersion>;
  /** search_string_dict values this process knows are committed (writes.ts). */
  private readonly knownDictionaryValues = new KnownDictionaryValues();

  constructor(
    private readonly pool: Pool,
    readonly options: RepositoryOptions,
  ) {
    this.creates = new WriteCoalescer((writes) => this.executeWrites(this.pool, writes), options.groupCommitStatements ?? 2);
  }

  /**
   * Brings this process's search parameter registry up to date with custom SearchParameters (repository/
   * search/parameters.ts) — at once when this process wrote one (or when `force`d), else the runner's polling does.
   */
  async syncSearchParameters(force = false): Promise<void> {
    if (!force && !this.searchParametersStale) return;
    this.searchParametersStale = false;
    try {
      await syncSearchParameterRegistry(this.pool);
    } catch (e) {
      this.searchParametersStale = true;
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reads

  /** https://hl7.org/fhir/R4/http.html#read — 404 when never existed, 410 when deleted. */
  async read(resourceType: string, id: string, client: Pool | PoolClient = this.pool): Promise<StoredVersion> {
    assertResourceType(resourceType);
    assertId(id);
    // Named (prepared): planning costs more than this primary-key probe itself.
    const { rows } = await client.query<{ version_id: number; last_updated: string; deleted: boolean; content: string | null }>({
      name: 'arogya_read',
      text: READ_SQL,
      values: [id, resourceType],
    });
    const row = rows[0];
    if (!row) throw notFound(`${resourceType}/${id} is not known`);
    const v: StoredVersion = { resourceType, id, versionId: row.version_id, lastUpdated: row.last_updated, deleted: row.deleted };
    if (row.deleted) throw Object.assign(gone(`${resourceType}/${id} was deleted`), { version: v });
    v.content = row.content ?? undefined;
    return v;
  }

  /** https://hl7.org/fhir/R4/http.html#vread */
  async vread(resourceType: string, id: string, versionId: string, client: Pool | PoolClient = this.pool): Promise<StoredVersion> {
    assertResourceType(resourceType);
    assertId(id);
    if (!/^[1-9]\d{0,9}$/.test(versionId)) throw notFound(`${resourceType}/${id} has no version '${versionId}'`);
    const { rows } = await client.query<{ last_updated: string; deleted: boolean; content: string | null }>(
      `SELECT ${INSTANT_SQL('last_updated')} AS last_updated, deleted, content FROM resource_history
        WHERE id = $1 AND resource_type = $2 AND version_id = $3`,
      [id, resourceType, Number(versionId)],
    );
    const row = rows[0];
    if (!row) throw notFound(`${resourceType}/${id} has no version ${versionId}`);
    const v: StoredVersion = { resourceType, id, versionId: Number(versionId), lastUpdated: row.last_updated, deleted: row.deleted };
    if (row.deleted) throw Object.assign(gone(`${resourceType}/${id} version ${versionId} is a deletion`), { version: v });
    v.content = row.content ?? undefined;
    return v;
  }

  /** Ids of current resources matching `query` (for conditional operations); at most `limit`. Strict: every
   * criterion must be understood (parseCriteria refuses anything else), so a conditional write never acts on an
   * ignored parameter. */
  async findIds(client: Pool | PoolClient, resourceType: string, query: URLSearchParams, purpose: string, limit: number): Promise<string[]> {
    const criteria = parseCriteria(resourceType, query, purpose, this.options.timeZone, this.options.baseUrl);
    if (criteria.length === 0) throw badRequest(`${purpose} needs at least one search criterion`);
    await resolveTerminology(this.pool, criteria);
    const where = compileCriteria(resourceType, criteria);
    const { rows } = await client.query<{ id: string }>(
      `SELECT r.id FROM resource r WHERE ${where.sql} LIMIT ${Math.max(1, Math.floor(limit))}`,
      where.params,
    );
    return rows.map((r) => r.id);
  }

  /**
   * findIds for many parsed criteria at once (transaction and batch bundles): one statement per 100 criteria, a
   * UNION ALL of the predicates findIds compiles, each branch with its own LIMIT. Returns the ids per query, in
   * order. Used by repository/bundle-plan.ts.
   */
  async findIdsMany(client: Pool | PoolClient, queries: { resourceType: string; criteria: Criterion[]; limit: number }[]): Promise<string[][]> {
    const out: string[][] = queries.map(() => []);
    for (let start = 0; start < queries.length; start += 100) {
      const chunk = queries.slice(start, start + 100);
      const params: unknown[] = [];
      const parts: string[] = [];
      for (const [i, q] of chunk.entries()) {
        if (q.criteria.length === 0) throw badRequest('A conditional reference or operation needs at least one search criterion');
        await resolveTerminology(this.pool, q.criteria);
        const where = compileCriteria(q.resourceType, q.criteria, params);
        parts.push(`(SELECT ${start + i}::int AS q, r.id FROM resource r WHERE ${where.sql} LIMIT ${Math.max(1, Math.floor(q.limit))})`);
      }
      const { rows } = await client.query<{ q: number; id: string }>(parts.join(' UNION ALL '), params);
      for (const r of rows) out[r.q].push(r.id);
    }
    return out;
  }

  /**
   * Search (https://hl7.org/fhir/R4/search.html) of parsed criteria — type, system or compartment level — with
   * sorting, keyset paging, totals and includes, under an optional access restriction applied inside every SQL
   * statement (repository/search/execute.ts).
   */
  async searchResources(request: SearchRequest): Promise<SearchResult> {
    for (const t of request.types ?? []) assertResourceType(t);
    await this.syncSearchParameters();
    return executeSearch(this.pool, request);
  }

  /**
   * Type-level search from query parameters (strict grammar, `_count`/`_cursor`/`_sort`/`_total`/`_include`
   * understood): a page of matches with the cursor of the next page.
   */
  async search(resourceType: string, query: URLSearchParams, opts: { count: number; cursor?: string; total: boolean }): Promise<SearchPage> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const parsed = parseSearch([resourceType], [...query], { timeZone: this.options.timeZone, baseUrl: this.options.baseUrl });
    const c = parsed.controls;
    // Entries of such a page name [type]/[id]: contained resources (and their containers) have no place in it.
    if (c.contained !== 'false') throw badRequest(`_contained=${c.contained} is not supported in a Bundle entry's search; use GET [base]/${resourceType}?…`, '_contained');
    const result = await executeSearch(this.pool, {
      types: [resourceType],
      criteria: parsed.criteria,
      sort: c.sort,
      count: opts.count,
      cursor: opts.cursor ?? c.cursor,
      include: c.include,
      total: opts.total ? (c.total ?? 'accurate') : 'none',
    });
    const page: SearchPage = {
      resources: [...result.matches, ...result.includes].map((r) => ({ ...r, deleted: false })),
      total: result.total,
    };
    if (result.next) page.next = result.next;
    return page;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes

  /** Validates and normalises a resource for writing; throws 400 with every issue on error. */
  prepare(resource: unknown, expectedType: string, id: string): { resource: JsonObject; warnings: Issue[] } {
    if (!isJsonObject(resource)) throw badRequest('The body must be a JSON object (a FHIR resource)');
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
    const issues = validateResource(ordered, { expectedType });
    if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) throw new OperationOutcomeError(400, issues);
    if (expectedType === 'SearchParameter') {
      // A custom search parameter the server could not serve is refused here, resource by resource (custom.ts).
      const check = checkSearchParameter(ordered);
      if (check.kind === 'refused') throw new OperationOutcomeError(422, check.issues);
    }
    return { resource: ordered, warnings: issues };
  }

  /** Referential integrity: every local reference must name a current resource; locks them against deletion. */
  private async checkReferences(client: PoolClient, self: { resourceType: string; id: string }, refs: LocalReference[]): Promise<void> {
    if (!this.options.referentialIntegrity) return;
    const targets = new Map<string, LocalReference>();
    for (const r of refs) {
      if (r.targetType === self.resourceType && r.targetId === self.id) continue;
      targets.set(`${r.targetType}/${r.targetId}`, r);
    }
    if (targets.size === 0) return;
    const list = [...targets.values()];
    const { rows } = await client.query<{ id: string; resource_type: string }>(
      `SELECT id, resource_type FROM resource
        WHERE (id, resource_type) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND NOT deleted
        FOR KEY SHARE`,
      [list.map((r) => r.targetId), list.map((r) => r.targetType)],
    );
    const found = new Set(rows.map((r) => `${r.resource_type}/${r.id}`));
    const missing = list.filter((r) => !found.has(`${r.targetType}/${r.targetId}`));
    if (missing.length) {
      throw new OperationOutcomeError(
        422,
        missing.map((r) =>
          issue('error', 'not-found', `Reference to ${r.targetType}/${r.targetId} does not resolve: no such resource on this server`, r.path),
        ),
      );
    }
  }

  /** Plans the write of one version: serialisation, search-value extraction and references; no I/O. */
  planVersion(
    v: { resourceType: string; id: string; versionId: number; method: WriteMethod; insert: boolean },
    resource: JsonObject | undefined,
    /** The resource's local references, when the caller has collected them already. */
    links?: LocalReference[],
  ): VersionWrite {
    if (resource && v.resourceType === 'SearchParameter') {
      // Custom search parameters: refused on write when the server could not serve them (fhir/search/custom.ts).
      const check = checkSearchParameter(resource);
      if (check.kind === 'refused') throw new OperationOutcomeError(422, check.issues);
    }
    const content = resource ? toJson(resource) : undefined;
    // PostgreSQL text cannot hold U+0000, and FHIR strings have no use for it: refuse rather than fail in SQL.
    if (content?.includes('\\u0000')) throw badRequest('The resource contains a NUL character (U+0000), which FHIR strings may not contain');
    return {
      ...v,
      content,
      index: resource ? extractIndexRows(resource, { timeZone: this.options.timeZone, baseUrl: this.options.baseUrl }) : {},
      contained: resource ? extractContainedIndexRows(resource, { timeZone: this.options.timeZone, baseUrl: this.options.baseUrl }) : undefined,
      links: links ?? (resource ? collectReferences(resource, this.options.baseUrl).local : []),
    };
  }

  /**
   * Executes planned writes as one multi-row statement inside `client`'s transaction (or autocommit on the pool).
   * With `returnContent: false` the stored bodies are not sent back (content is then undefined).
   */
  async executeWrites(client: Pool | PoolClient, writes: VersionWrite[], opts: { returnContent?: boolean } = {}): Promise<StoredVersion[]> {
    if (writes.length === 0) return [];
    const searchParameters = writes.some((w) => w.resourceType === 'SearchParameter');
    // A SearchParameter's state (and reindex job) is written in the same transaction as the resource.
    if (searchParameters && !isPoolClient(client)) return inTransaction(this.pool, (c) => this.executeWrites(c, writes, opts));
    const { dictValues, ...stmt } = versionWritesStatement(writes, opts.returnContent ?? true, this.knownDictionaryValues);
    const { rows } = await client.query<{ ord: number; last_updated: string; content: string | null }>(stmt);
    // Committed when autocommit; inside a caller's transaction it may still roll back, so nothing is learnt then.
    if (!isPoolClient(client)) this.knownDictionaryValues.addAll(dictValues);
    if (searchParameters) {
      await recordSearchParameterWrites(client as PoolClient, writes);
      this.searchParametersStale = true;
    }
    return rows.map((r, i) => ({
      resourceType: writes[i].resourceType,
      id: writes[i].id,
      versionId: writes[i].versionId,
      lastUpdated: r.last_updated,
      deleted: writes[i].content === undefined,
      content: r.content ?? undefined,
    }));
  }

  /**
   * The checks and normalisation an update by id makes (http.html#update), without I/O: for bulk paths (import)
   * that validate resource by resource and then write them in batches with `upsertBatch`.
   */
  prepareUpdate(resourceType: string, id: string, resource: unknown): { resource: JsonObject; warnings: Issue[] } {
    assertResourceType(resourceType);
    assertId(id);
    if (isJsonObject(resource) && resource.id !== undefined && resource.id !== id) {
      throw badRequest(`The resource id '${String(resource.id)}' does not match the id '${id}'`, `${resourceType}.id`);
    }
    return this.prepare(resource, resourceType, id);
  }

  /**
   * Updates by id (update-as-create for new ids) of many prepared resources inside `client`'s transaction: one
   * locking read of their current rows and one multi-row write statement. A body identical to the current version
   * makes no new version ('unchanged'). References are NOT checked here: the caller checks them (bulk import does
   * so once its whole job is written, since its files arrive in any order). Each (type, id) at most once.
   */
  async upsertBatch(client: PoolClient, items: { resourceType: string; id: string; resource: JsonObject }[]): Promise<WriteOutcome[]> {
    if (items.length === 0) return [];
    const plans = items.map((it) => this.planVersion({ resourceType: it.resourceType, id: it.id, versionId: 1, method: 'PUT', insert: true }, it.resource));
    const { rows } = await client.query<{ ord: number; version_id: number; deleted: boolean; same: boolean }>(
      `SELECT i.ord::int AS ord, r.version_id, r.deleted,
              NOT r.deleted AND arogya_content_key(r.content) = arogya_content_key(i.content::jsonb) AS same
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS i(id, rt, content, ord)
         JOIN resource r ON r.id = i.id AND r.resource_type = i.rt
        FOR NO KEY UPDATE OF r`,
      [plans.map((p) => p.id), plans.map((p) => p.resourceType), plans.map((p) => p.content)],
    );
    const current = new Map(rows.map((r) => [r.ord - 1, r]));
    const outcomes: WriteOutcome[] = [];
    const writes: VersionWrite[] = [];
    plans.forEach((plan, i) => {
      const prev = current.get(i);
      if (prev?.same) {
        outcomes.push('unchanged');
        return;
      }
      outcomes.push(prev && !prev.deleted ? 'updated' : 'created');
      writes.push({ ...plan, versionId: prev ? prev.version_id + 1 : 1, insert: !prev });
    });
    await this.executeWrites(client, writes);
    return outcomes;
  }

  /** Writes one version inside `client`'s transaction (or autocommit when `client` is the pool). */
  private async writeVersion(
    client: Pool | PoolClient,
    v: { resourceType: string; id: string; versionId: number; method: WriteMethod; insert: boolean },
    resource: JsonObject | undefined,
  ): Promise<StoredVersion> {
    const [written] = await this.executeWrites(client, [this.planVersion(v, resource)]);
    return written;
  }

  /** A transaction-scoped advisory lock on normalised conditional criteria: identical conditional writes serialise,
   * unrelated writes never wait on each other. */
  private async lockCriteria(client: PoolClient, key: string): Promise<void> {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
  }

  /** https://hl7.org/fhir/R4/http.html#create (+ conditional create with If-None-Exist). */
  async create(resource: unknown, resourceType: string, opts: { ifNoneExist?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const id = crypto.randomUUID();
    const { resource: body, warnings } = this.prepare(resource, resourceType, id);
    const refs = collectReferences(body, this.options.baseUrl).local;
    const needsTx = opts.ifNoneExist !== undefined || (this.options.referentialIntegrity && refs.length > 0);
    if (!needsTx) {
      const plan = this.planVersion({ resourceType, id, versionId: 1, method: 'POST', insert: true }, body, refs);
      // SearchParameter writes take a transaction of their own (executeWrites): they are not grouped.
      const v = resourceType === 'SearchParameter' ? (await this.executeWrites(this.pool, [plan]))[0] : await this.creates.write(plan);
      return { ...v, outcome: 'created', warnings };
    }
    return inTransaction(this.pool, async (client) => {
      if (opts.ifNoneExist !== undefined) {
        const query = new URLSearchParams(opts.ifNoneExist.replace(/^\?/, ''));
        const criteria = parseCriteria(resourceType, query, 'If-None-Exist', this.options.timeZone, this.options.baseUrl);
        if (criteria.length === 0) throw badRequest('If-None-Exist has no search criteria');
        await this.lockCriteria(client, criteriaKey(resourceType, criteria));
        const ids = await this.findIds(client, resourceType, query, 'If-None-Exist', 2);
        if (ids.length > 1) throw preconditionFailed(`If-None-Exist '${opts.ifNoneExist}' matches more than one ${resourceType}`, 'multiple-matches');
        if (ids.length === 1) {
          const existing = await this.read(resourceType, ids[0], client); // never a second pool connection inside a transaction
          return { ...existing, outcome: 'existing' as const, warnings: [] };
        }
      }
      await this.checkReferences(client, { resourceType, id }, refs);
      const v = await this.writeVersion(client, { resourceType, id, versionId: 1, method: 'POST', insert: true }, body);
      return { ...v, outcome: 'created' as const, warnings };
    });
  }

  /**
   * https://hl7.org/fhir/R4/http.html#update — update, or update-as-create when the id is new. A body identical
   * to the current version (ignoring server meta) creates no version (outcome 'unchanged').
   */
  async update(resourceType: string, id: string, resource: unknown, opts: { ifMatch?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    assertId(id);
    if (isJsonObject(resource) && resource.id !== undefined && resource.id !== id) {
      throw badRequest(`The resource id '${String(resource.id)}' does not match the URL id '${id}'`, `${resourceType}.id`);
    }
    if (isJsonObject(resource) && resource.id === undefined) {
      throw badRequest('An update must carry the resource id in the body (http.html#update)', `${resourceType}.id`);
    }
    const ifMatch = opts.ifMatch !== undefined ? parseVersionTag(opts.ifMatch) : undefined;
    const prepared = this.prepare(resource, resourceType, id);
    try {
      return await inTransaction(this.pool, (client) => this.updateIn(client, resourceType, id, prepared, ifMatch, 'PUT'));
    } catch (e) {
      // Two concurrent update-as-creates of one new id: the loser retries as an ordinary update.
      if (isUniqueViolation(e)) return inTransaction(this.pool, (client) => this.updateIn(client, resourceType, id, prepared, ifMatch, 'PUT'));
      throw e;
    }
  }

  private async updateIn(
    client: PoolClient,
    resourceType: string,
    id: string,
    prepared: { resource: JsonObject; warnings: Issue[] },
    ifMatch: number | undefined,
    method: WriteMethod,
  ): Promise<WriteResult> {
    const text = toJson(prepared.resource);
    const { rows } = await client.query<{ version_id: number; deleted: boolean; same: boolean; last_updated: string; content: string | null }>(
      `SELECT version_id, deleted, ${INSTANT_SQL('last_updated')} AS last_updated, content,
              NOT deleted AND arogya_content_key(content) = arogya_content_key($3::text::jsonb) AS same
         FROM resource WHERE id = $1 AND resource_type = $2 FOR NO KEY UPDATE`,
      [id, resourceType, text],
    );
    const prev = rows[0];
    if (ifMatch !== undefined && (!prev || prev.deleted || prev.version_id !== ifMatch)) {
      throw preconditionFailed(
        prev && !prev.deleted
          ? `If-Match W/"${ifMatch}" does not match the current version W/"${prev.version_id}" of ${resourceType}/${id}`
          : `If-Match W/"${ifMatch}" given, but ${resourceType}/${id} does not currently exist`,
      );
    }
    if (prev?.same) {
      return {
        resourceType, id, versionId: prev.version_id, lastUpdated: prev.last_updated, deleted: false,
        content: prev.content ?? undefined, outcome: 'unchanged', warnings: prepared.warnings,
      };
    }
    await this.checkReferences(client, { resourceType, id }, collectReferences(prepared.resource, this.options.baseUrl).local);
    const versionId = prev ? prev.version_id + 1 : 1;
    const v = await this.writeVersion(client, { resourceType, id, versionId, method, insert: !prev }, prepared.resource);
    return { ...v, outcome: prev && !prev.deleted ? 'updated' : 'created', warnings: prepared.warnings };
  }

  /** https://hl7.org/fhir/R4/http.html#cond-update */
  async conditionalUpdate(resourceType: string, criteria: string, resource: unknown, opts: { ifMatch?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const query = new URLSearchParams(criteria);
    const parsed = parseCriteria(resourceType, query, 'conditional update', this.options.timeZone, this.options.baseUrl);
    if (parsed.length === 0) throw badRequest('A conditional update needs search criteria');
    const ifMatch = opts.ifMatch !== undefined ? parseVersionTag(opts.ifMatch) : undefined;
    const bodyId = isJsonObject(resource) && typeof resource.id === 'string' ? resource.id : undefined;
    return inTransaction(this.pool, async (client) => {
      await this.lockCriteria(client, criteriaKey(resourceType, parsed));
      const ids = await this.findIds(client, resourceType, query, 'conditional update', 2);
      if (ids.length > 1) throw preconditionFailed(`Conditional update criteria '${criteria}' match more than one ${resourceType}`, 'multiple-matches');
      if (ids.length === 1) {
        if (bodyId !== undefined && bodyId !== ids[0]) {
          throw badRequest(`The resource id '${bodyId}' differs from the id '${ids[0]}' of the matching ${resourceType}`, `${resourceType}.id`);
        }
        return this.updateIn(client, resourceType, ids[0], this.prepare(resource, resourceType, ids[0]), ifMatch, 'PUT');
      }
      // No match: create, with the client's id when it gave one (update-as-create), else a new one.
      const id = bodyId ?? crypto.randomUUID();
      assertId(id);
      return this.updateIn(client, resourceType, id, this.prepare(resource, resourceType, id), ifMatch, bodyId ? 'PUT' : 'POST');
    });
  }

  /** https://hl7.org/fhir/R4/http.html#patch — `apply` turns the current resource into the patched one. */
  async patch(resourceType: string, id: string, apply: (current: JsonObject) => unknown, opts: { ifMatch?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    assertId(id);
    const ifMatch = opts.ifMatch !== undefined ? parseVersionTag(opts.ifMatch) : undefined;
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ version_id: number; deleted: boolean; content: string | null }>(
        'SELECT version_id, deleted, content FROM resource WHERE id = $1 AND resource_type = $2 FOR NO KEY UPDATE',
        [id, resourceType],
      );
      const cur = rows[0];
      if (!cur) throw notFound(`${resourceType}/${id} is not known`);
      if (cur.deleted) throw gone(`${resourceType}/${id} was deleted`);
      if (ifMatch !== undefined && cur.version_id !== ifMatch) {
        throw preconditionFailed(`If-Match W/"${ifMatch}" does not match the current version W/"${cur.version_id}" of ${resourceType}/${id}`);
      }
      const patched = apply(parseStoredJson(cur.content!));
      if (!isJsonObject(patched) || patched.resourceType !== resourceType) {
        throw new OperationOutcomeError(422, [issue('error', 'processing', 'The patch may not change the resourceType')]);
      }
      if (patched.id !== id) throw new OperationOutcomeError(422, [issue('error', 'processing', 'The patch may not change the resource id')]);
      return this.updateIn(client, resourceType, id, this.prepare(patched, resourceType, id), undefined, 'PATCH');
    });
  }

  /** https://hl7.org/fhir/R4/http.html#delete — idempotent; 409 while other resources still reference it. */
  async delete(resourceType: string, id: string, opts: { ifMatch?: string } = {}): Promise<WriteResult> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    assertId(id);
    const ifMatch = opts.ifMatch !== undefined ? parseVersionTag(opts.ifMatch) : undefined;
    return inTransaction(this.pool, (client) => this.deleteIn(client, resourceType, id, ifMatch));
  }

  private async deleteIn(client: PoolClient, resourceType: string, id: string, ifMatch?: number): Promise<WriteResult> {
    // FOR UPDATE (not NO KEY UPDATE) conflicts with the FOR KEY SHARE that writers of references take.
    const { rows } = await client.query<{ version_id: number; deleted: boolean; last_updated: string }>(
      `SELECT version_id, deleted, ${INSTANT_SQL('last_updated')} AS last_updated FROM resource WHERE id = $1 AND resource_type = $2 FOR UPDATE`,
      [id, resourceType],
    );
    const cur = rows[0];
    if (ifMatch !== undefined && (!cur || cur.deleted || cur.version_id !== ifMatch)) {
      throw preconditionFailed(`If-Match W/"${ifMatch}" does not match the current version of ${resourceType}/${id}`);
    }
    if (!cur) return { resourceType, id, versionId: 0, lastUpdated: '', deleted: true, outcome: 'not-found', warnings: [] };
    if (cur.deleted) {
      return { resourceType, id, versionId: cur.version_id, lastUpdated: cur.last_updated, deleted: true, outcome: 'unchanged', warnings: [] };
    }
    if (this.options.referentialIntegrity) {
      const referrers = await client.query<{ resource_type: string; id: string }>(
        `SELECT DISTINCT resource_type, id FROM resource_link
          WHERE target_id = $1 AND target_type = $2 AND NOT (id = $1 AND resource_type = $2)
          ORDER BY resource_type, id LIMIT ${MAX_LISTED_REFERRERS + 1}`,
        [id, resourceType],
      );
      if (referrers.rows.length) {
        const names = referrers.rows.slice(0, MAX_LISTED_REFERRERS).map((r) => `${r.resource_type}/${r.id}`);
        const more = referrers.rows.length > MAX_LISTED_REFERRERS ? ' and more' : '';
        throw conflict(`${resourceType}/${id} cannot be deleted: it is referenced by ${names.join(', ')}${more}`);
      }
    }
    const v = await this.writeVersion(client, { resourceType, id, versionId: cur.version_id + 1, method: 'DELETE', insert: false }, undefined);
    return { ...v, outcome: 'deleted', warnings: [] };
  }

  /** https://hl7.org/fhir/R4/http.html#cdelete — with `multiple`, every match is deleted (up to `max`). */
  async conditionalDelete(resourceType: string, criteria: string, opts: { multiple: boolean; max: number }): Promise<WriteResult[]> {
    assertResourceType(resourceType);
    await this.syncSearchParameters();
    const query = new URLSearchParams(criteria);
    const parsed = parseCriteria(resourceType, query, 'conditional delete', this.options.timeZone, this.options.baseUrl);
    if (parsed.length === 0) throw badRequest('A conditional delete needs search criteria (deleting every resource of a type is refused)');
    return inTransaction(this.pool, async (client) => {
      await this.lockCriteria(client, criteriaKey(resourceType, parsed));
      const limit = opts.multiple ? opts.max + 1 : 2;
      const ids = await this.findIds(client, resourceType, query, 'conditional delete', limit);
      if (ids.length > 1 && !opts.multiple) {
        throw preconditionFailed(`Conditional delete criteria '${criteria}' match more than one ${resourceType}`, 'multiple-matches');
      }
      if (ids.length > opts.max) {
        throw new OperationOutcomeError(412, [issue('error', 'too-costly', `Conditional delete matches more than ${opts.max} resources; narrow the criteria`)]);
      }
      const results: WriteResult[] = [];
      for (const id of ids) results.push(await this.deleteIn(client, resourceType, id));
      return results;
    });
  }
}
