/**
 * The one read path (DESIGN.md §2): every read of stored resources — a REST read, vread, search or history, a
 * bundle's GET entry, `$everything`, `$validate mode=delete`, bulk export, the search-parameter registry — is a
 * method of this class, called with the caller's context (caller.ts). The caller's access restriction is compiled
 * into each statement (search/compile.ts `visible`), never applied to rows afterwards.
 *
 * AuditEvents are not stored with the clinical resources: their reads and searches are sent to the audit log's own
 * table (audit/store.ts), and what a read gave the caller is told to the request's audit trail (`caller.audit`).
 *
 * Repository extends this class: its reads run on the pool. `Repository.within(client)` gives the same reads on a
 * transaction's connection, so a transaction bundle's GET entries see the transaction's own writes.
 */
import type { JsonObject } from '../fhir/json';
import { AUDIT_EVENT, readAuditEvent, searchAuditEvents } from '../audit/store';
import type { Db, Pool } from '../database/pool';
import { gone, notFound, notSupported } from '../fhir/outcome';
import type { Caller } from './caller';
import { assertId, assertResourceType } from './identity';
import { everything, type EverythingPage, type EverythingQuery } from './everything';
import { ExportSession, presentTypes } from './export';
import { history, readHorizon, type HistoryPage, type HistoryQuery } from './history';
import type { Criterion } from '../fhir/search/criteria';
import { parseCriteria } from '../fhir/search/parse';
import { requirePermission, SEE, visible } from './search/compile/access';
import { preparedStatement, SqlBuilder } from './search/compile/sql';
import { executeSearch } from './search/execute';
import type { SearchRequest, SearchResult } from './search/request';
import { searchParameterState, syncSearchParameterRegistry, type SearchParameterState } from './search/parameters';
import { loadByUrl, resolveTerminology, storedSource } from './search/terminology';
import type { Definition, TerminologySource } from '../fhir/terminology/expand';
import type { ProfileSet } from '../fhir/validation/profile/set';
import type { StoredVersion } from './versions';
import { INSTANT_SQL } from './writes';
import { Coalescer } from './coalesce';

export interface ReadOptions {
  /** Absolute references to this base are treated as local references. */
  baseUrl: string;
  /** Zone for search dates written without an offset. */
  timeZone: string;
  /** Loaded profiles and the terminology they bring (core, profiles/, IG folders): `:in`/`:not-in` use it. */
  profiles?: ProfileSet;
}

/** A search as the read path takes it: the restriction is the caller's, never the request's. */
export type SearchQuery = Omit<SearchRequest, 'restriction'>;

const READ_SQL = `SELECT version_id, ${INSTANT_SQL('last_updated')} AS last_updated, deleted, content FROM resource WHERE id = $1 AND resource_type = $2`;
const READ_BY_ALIAS = READ_SQL.replace('FROM resource WHERE', 'FROM resource r WHERE');
/** The prepared single-row read by id (no access condition); also the bench's read floor (test/bench/floor-server.ts). */
export const readById = (id: string, resourceType: string) => ({ name: 'arogya_read', text: READ_SQL, values: [id, resourceType] });
/** Many reads by id in one probe; `i` is each key's position (a key may come twice). */
const READ_MANY_SQL = `SELECT t.i, r.version_id, ${INSTANT_SQL('r.last_updated')} AS last_updated, r.deleted, r.content
  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(id, rt, i) JOIN resource r ON r.id = t.id AND r.resource_type = t.rt`;

/** The current row of a resource, as a read by id takes it. */
interface ReadRow {
  version_id: number;
  last_updated: string;
  deleted: boolean;
  content: string | null;
}

/** Reads by id on the pool that need no access condition, batched (coalesce.ts): one statement for those queued together. */
export type ReadBatcher = Coalescer<{ resourceType: string; id: string }, ReadRow | undefined>;

/**
 * The batcher of a pool's unconditioned reads by id: a read goes out at once, alone, as the prepared single-row
 * probe while fewer than `maxInFlight` of them run; reads that arrive meanwhile leave together as one `unnest`
 * probe when one ends. Under load, a read then costs node and PostgreSQL a share of one round trip instead of one.
 */
export function readBatcher(pool: Pool, maxInFlight: number): ReadBatcher {
  return new Coalescer(async (keys) => {
    if (keys.length === 1) {
      const { rows } = await pool.query<ReadRow>(readById(keys[0].id, keys[0].resourceType));
      return [rows[0]];
    }
    const { rows } = await pool.query<ReadRow & { i: string }>({
      name: 'arogya_read_many',
      text: READ_MANY_SQL,
      values: [keys.map((k) => k.id), keys.map((k) => k.resourceType)],
    });
    const out: (ReadRow | undefined)[] = new Array(keys.length).fill(undefined);
    for (const r of rows) out[Number(r.i) - 1] = r;
    return out;
  }, maxInFlight);
}

/**
 * This process's search parameter registry against custom SearchParameters in the database: synced at once when
 * this process wrote one (stale) or when forced, else by the runner's polling (search/reindex.ts).
 */
export class RegistrySync {
  private stale = false;
  constructor(private readonly pool: Pool) {}
  markStale(): void {
    this.stale = true;
  }
  async sync(force: boolean): Promise<void> {
    if (!force && !this.stale) return;
    this.stale = false;
    try {
      await syncSearchParameterRegistry(this.pool);
    } catch (e) {
      this.stale = true;
      throw e;
    }
  }
}

export class Reads {
  constructor(
    /** Where reads run: the pool, or the connection of a transaction in progress. */
    protected readonly db: Db,
    protected readonly pool: Pool,
    readonly options: ReadOptions,
    protected readonly registry: RegistrySync,
    /** Batches reads by id on the pool (absent on a transaction's connection, whose reads must see its writes). */
    private readonly batcher?: ReadBatcher,
  ) {}

  /**
   * Where `caller`'s reads run: on the pool, through the request's scope (database/request-scope.ts) when it has
   * one, so that they are cancelled if its client goes away; on a transaction's connection, that connection.
   */
  protected dbFor(caller: Caller): Db {
    return caller.scope && this.db === this.pool ? caller.scope.db(this.pool) : this.db;
  }

  /** Brings this process's search parameter registry up to date (see RegistrySync). */
  syncSearchParameters(force = false): Promise<void> {
    return this.registry.sync(force);
  }

  /** https://hl7.org/fhir/R4/http.html#read — 404 when never existed (or outside the caller's access), 410 when deleted. */
  async read(caller: Caller, resourceType: string, id: string): Promise<StoredVersion> {
    assertResourceType(resourceType);
    assertId(id);
    requirePermission(caller.access, 'r', resourceType);
    if (resourceType === AUDIT_EVENT) return readAuditEvent(this.dbFor(caller), caller, id, this.options);
    // Prepared (named): planning costs more than this primary-key probe itself. A token whose access to the type is
    // unrestricted adds nothing to the statement; a compartment adds its condition, one prepared text per shape.
    const b = new SqlBuilder([id, resourceType]);
    const access = visible(b, 'r', caller.access, resourceType, 'r');
    let row: ReadRow | undefined;
    if (access === 'true' && this.batcher) row = await this.batcher.write({ resourceType, id });
    else {
      const query = access === 'true' ? readById(id, resourceType) : preparedStatement(`${READ_BY_ALIAS} AND ${access}`, b.params);
      row = (await this.dbFor(caller).query<ReadRow>(query)).rows[0];
    }
    if (!row) throw notFound(`${resourceType}/${id} is not known`);
    const v: StoredVersion = { resourceType, id, versionId: row.version_id, lastUpdated: row.last_updated, deleted: row.deleted };
    caller.audit?.touched(resourceType, id, v.versionId, row.content ?? undefined);
    if (row.deleted) throw Object.assign(gone(`${resourceType}/${id} was deleted`), { version: v });
    v.content = row.content ?? undefined;
    return v;
  }

  /** https://hl7.org/fhir/R4/http.html#vread */
  async vread(caller: Caller, resourceType: string, id: string, versionId: string): Promise<StoredVersion> {
    assertResourceType(resourceType);
    assertId(id);
    requirePermission(caller.access, 'r', resourceType);
    if (!/^[1-9]\d{0,9}$/.test(versionId)) throw notFound(`${resourceType}/${id} has no version '${versionId}'`);
    if (resourceType === AUDIT_EVENT) return readAuditEvent(this.dbFor(caller), caller, id, this.options, versionId);
    const b = new SqlBuilder();
    const { rows } = await this.dbFor(caller).query<{ last_updated: string; deleted: boolean; content: string | null }>(
      preparedStatement(
        `SELECT ${INSTANT_SQL('h.last_updated')} AS last_updated, h.deleted, h.content FROM resource_history h
          WHERE h.id = ${b.p(id)} AND h.resource_type = ${b.p(resourceType)} AND h.version_id = ${b.p(Number(versionId))}
            AND ${visible(b, 'h', caller.access, resourceType, 'r')}`,
        b.params,
      ),
    );
    const row = rows[0];
    if (!row) throw notFound(`${resourceType}/${id} has no version ${versionId}`);
    const v: StoredVersion = { resourceType, id, versionId: Number(versionId), lastUpdated: row.last_updated, deleted: row.deleted };
    caller.audit?.touched(resourceType, id, v.versionId, row.content ?? undefined);
    if (row.deleted) throw Object.assign(gone(`${resourceType}/${id} version ${versionId} is a deletion`), { version: v });
    v.content = row.content ?? undefined;
    return v;
  }

  /**
   * Search (https://hl7.org/fhir/R4/search.html) of parsed criteria — type, system or compartment level — with
   * sorting, keyset paging, totals and includes, the caller's access inside every statement (search/execute.ts).
   */
  async searchResources(caller: Caller, request: SearchQuery): Promise<SearchResult> {
    for (const t of request.types ?? []) assertResourceType(t);
    if (request.types) for (const t of request.types) requirePermission(caller.access, 's', t);
    else requirePermission(caller.access, 's');
    if (request.types?.includes(AUDIT_EVENT)) {
      if (request.types.length > 1) throw notSupported('AuditEvent is searched on its own (GET [base]/AuditEvent?…), not with other types');
      return searchAuditEvents(this.dbFor(caller), caller, request, this.options);
    }
    await this.syncSearchParameters();
    const result = await executeSearch(this.dbFor(caller), { ...request, restriction: caller.access }, this.options.profiles?.terminology);
    const audit = caller.audit;
    if (audit) {
      for (const r of result.matches) audit.touched(r.resourceType, r.id, r.versionId, r.content);
      for (const r of result.includes) audit.touched(r.resourceType, r.id, r.versionId, r.content);
      audit.counted(result.matches.length, result.total);
    }
    return result;
  }

  /** History (https://hl7.org/fhir/R4/http.html#history) at instance, type or system level (history.ts). */
  async history(caller: Caller, q: HistoryQuery): Promise<HistoryPage> {
    if (q.resourceType === AUDIT_EVENT) throw notSupported('AuditEvents have no history: each is recorded once and never changed');
    // instance history reads one resource by id (r); type and system history list what the caller may search (s)
    requirePermission(caller.access, q.id ? 'r' : 's', q.resourceType);
    const page = await history(this.dbFor(caller), q, caller.access);
    const audit = caller.audit;
    if (audit) {
      for (const e of page.entries) audit.touched(e.resourceType, e.id, e.versionId, e.content ?? undefined);
      audit.counted(page.entries.length, page.total);
    }
    return page;
  }

  /** The pages of `$everything` (everything.ts); the focal resource's own 404/410 is the caller's `read`. */
  async everything(caller: Caller, q: EverythingQuery): Promise<EverythingPage> {
    const page = await everything(this.dbFor(caller), q, caller.access);
    const audit = caller.audit;
    if (audit) {
      for (const e of page.entries) audit.touched(e.resourceType, e.id, e.versionId, e.content);
      audit.counted(page.entries.length, page.total);
    }
    return page;
  }

  /**
   * Resources whose current version references type/id (other than itself): what makes a delete a 409
   * (`$validate mode=delete`). Only those the caller may see are named; `hidden` says whether others exist.
   */
  async referrers(caller: Caller, resourceType: string, id: string, limit: number): Promise<{ named: string[]; hidden: boolean; more: boolean }> {
    const b = new SqlBuilder();
    const { rows } = await this.dbFor(caller).query<{ resource_type: string; id: string; shown: boolean }>(
      `SELECT DISTINCT l.resource_type, l.id, ${visible(b, 'l', caller.access, undefined, SEE)} AS shown FROM resource_link l
        WHERE l.target_id = ${b.p(id)} AND l.target_type = ${b.p(resourceType)} AND NOT (l.id = ${b.p(id)} AND l.resource_type = ${b.p(resourceType)})
        ORDER BY shown DESC, l.resource_type, l.id LIMIT ${limit + 1}`,
      b.params,
    );
    const shown = rows.filter((r) => r.shown);
    return {
      named: shown.slice(0, limit).map((r) => `${r.resource_type}/${r.id}`),
      hidden: rows.some((r) => !r.shown),
      more: shown.length > limit,
    };
  }

  /**
   * Search criteria for later use (conditional operations, `_typeFilter`): parsed strictly — a parameter or
   * modifier not understood is a 400 (`purpose` names the request part) — with value sets expanded.
   */
  async criteria(resourceType: string, query: URLSearchParams, purpose: string): Promise<Criterion[]> {
    await this.syncSearchParameters();
    const criteria = parseCriteria(resourceType, query, purpose, this.options.timeZone, this.options.baseUrl);
    await resolveTerminology(this.db, criteria, this.options.profiles?.terminology);
    return criteria;
  }

  /**
   * Terminology for a request that names value set `url`: the stored definitions it needs (read now), then the
   * loaded ones (core, profiles/, IG folders). Code systems and value sets are conformance resources, not patient
   * data: they are read without the caller's access predicate, like the definitions `:in` expands.
   */
  terminologySource(url: string): Promise<TerminologySource> {
    return storedSource(this.db, this.options.profiles?.terminology, url);
  }

  /** A code system by canonical URL: stored, else loaded. */
  async codeSystem(url: string): Promise<JsonObject | Definition | undefined> {
    return (await loadByUrl(this.db, 'CodeSystem', url)) ?? this.options.profiles?.terminology.codeSystem(url);
  }

  /** A custom search parameter's reindex state (search/parameters.ts); undefined when it has none. */
  searchParameterState(id: string): Promise<SearchParameterState | undefined> {
    return searchParameterState(this.db, id);
  }

  /** The commit horizon (history.ts): every version older than it has committed and is visible. */
  horizon(): Promise<string> {
    return readHorizon(this.db);
  }

  /** The resource types that have at least one stored resource (bulk export). */
  presentTypes(): Promise<string[]> {
    return presentTypes(this.db);
  }

  /** A connection of its own for a bulk export's long cursors, reading what `caller` may see (export.ts). */
  openExport(caller: Caller): Promise<ExportSession> {
    requirePermission(caller.access, 's');
    return ExportSession.open(this.pool, caller.access);
  }
}
