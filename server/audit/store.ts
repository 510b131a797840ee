/**
 * Reading the audit log: the read path (repository/reads.ts) sends every read, vread and search of the type
 * AuditEvent here, so AuditEvents are served by the same routes, bundle entries and Bundle rendering as every other
 * type while they live in their own lean table (audit_event) instead of the clinical tables.
 *
 * Only a caller with an audit scope may read them (403 otherwise, scope.ts); the caller's compartment still applies.
 * Searches: `_id`, `date` and `_lastUpdated` (recorded), `patient`, `agent` (a user's `Type/id`, or a client id),
 * `altid` (client id), `entity`, `type`, `subtype`, `action`, `outcome`, `address`; newest first (`_sort=date` for
 * oldest first), keyset paging. Anything else is a 400: the audit log is not indexed like clinical resources.
 */
import type { Db } from '../database/pool';
import type { Criterion, DateValue, ReferenceValue, TokenValue } from '../fhir/search/criteria';
import { OperationOutcomeError, badRequest, issue, notFound } from '../fhir/outcome';
import type { Caller } from '../repository/caller';
import { permits, SEE } from '../repository/search/compile/access';
import { SqlBuilder } from '../repository/search/compile/sql';
import type { FoundResource, SearchRequest, SearchResult } from '../repository/search/request';
import type { StoredVersion } from '../repository/versions';
import { renderAuditEvent, type AuditRowRead } from './render';

export const AUDIT_EVENT = 'AuditEvent';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COLUMNS = `id::text, to_char(recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded, type, subtype, action, outcome,
  client_id, who, address, patient, request_id, detail::text AS detail`;
const SUPPORTED = '_id, date, _lastUpdated, patient, agent, altid, entity, type, subtype, action, outcome, address';

export interface AuditReadOptions {
  baseUrl: string;
}

/** The authorization server's base beside the FHIR base (…/fhir → …/auth): the clients' identifier system. */
function authBaseOf(baseUrl: string): string {
  return baseUrl.replace(/\/[^/]*$/, '/auth');
}

/** 403 unless the caller may read the audit log (an audit scope; the server itself; everyone with AROGYA_AUTH=off). */
function assertAuditReader(caller: Caller): void {
  const kind = caller.actor.kind;
  const allowed = kind === 'system' || kind === 'anonymous' || caller.audit?.auditReader === true;
  if (allowed && permits(caller.access, SEE, AUDIT_EVENT)) return;
  throw new OperationOutcomeError(403, [
    issue('error', 'forbidden', 'Reading AuditEvents needs an audit scope (user/AuditEvent.rs or system/AuditEvent.rs)'),
  ]);
}

/**
 * The caller's compartment on the audit log: a patient-confined reader sees the events about its patients (a
 * RelatedPerson's through its links); a reader whose access to AuditEvent has no compartment sees every event.
 */
function compartmentCondition(b: SqlBuilder, caller: Caller): string | undefined {
  if (!caller.access) return undefined;
  const rules = (['r', 's'] as const)
    .flatMap((p) => caller.access!.rules[p] ?? [])
    .filter((r) => !r.resourceTypes || r.resourceTypes.includes(AUDIT_EVENT));
  if (rules.some((r) => !r.compartment)) return undefined;
  const ors = rules.flatMap((r) => {
    const c = r.compartment!;
    if (c.type !== 'Patient') return [];
    if (c.via) {
      return [
        `patient && ARRAY(SELECT v.target_id FROM search_reference v WHERE v.id = ${b.p(c.via.id)} AND v.resource_type = ${b.p(c.via.type)}
                 AND v.param = ${b.p(c.via.param)} AND v.target_type = 'Patient')`,
      ];
    }
    return c.id === undefined ? [] : [`patient @> ARRAY[${b.p(c.id, 'text')}]`];
  });
  return ors.length ? `(${ors.join(' OR ')})` : 'false';
}

/** The pool hands jsonb over as text (stored bodies are parsed losslessly elsewhere); audit details are plain JSON. */
function toFound(raw: AuditRowRead, opts: AuditReadOptions): FoundResource {
  const row = { ...raw, detail: typeof raw.detail === 'string' ? (JSON.parse(raw.detail) as AuditRowRead['detail']) : raw.detail };
  return {
    resourceType: AUDIT_EVENT,
    id: row.id,
    versionId: 1,
    lastUpdated: row.recorded,
    content: JSON.stringify(renderAuditEvent(row, { baseUrl: opts.baseUrl, authBase: authBaseOf(opts.baseUrl) })),
  };
}

/** `AuditEvent/{id}` (and its only version, 1). */
export async function readAuditEvent(db: Db, caller: Caller, id: string, opts: AuditReadOptions, versionId?: string): Promise<StoredVersion> {
  assertAuditReader(caller);
  if (!UUID.test(id) || (versionId !== undefined && versionId !== '1')) {
    throw notFound(versionId === undefined ? `AuditEvent/${id} is not known` : `AuditEvent/${id} has no version ${versionId}`);
  }
  const b = new SqlBuilder();
  const where = [`id = ${b.p(id, 'uuid')}`, compartmentCondition(b, caller)].filter(Boolean).join(' AND ');
  const { rows } = await db.query<AuditRowRead>(`SELECT ${COLUMNS} FROM audit_event WHERE ${where}`, b.params);
  if (!rows[0]) throw notFound(`AuditEvent/${id} is not known`);
  const found = toFound(rows[0], opts);
  return { resourceType: AUDIT_EVENT, id, versionId: 1, lastUpdated: found.lastUpdated, deleted: false, content: found.content };
}

function dateCondition(b: SqlBuilder, v: DateValue): string {
  const low = (): string => b.p(v.range.low, 'timestamptz');
  const high = (): string => b.p(v.range.high, 'timestamptz');
  switch (v.prefix) {
    case 'eq':
    case 'ap':
      return `(recorded >= ${low()} AND recorded < ${high()})`;
    case 'ne':
      return `NOT (recorded >= ${low()} AND recorded < ${high()})`;
    case 'gt':
    case 'sa':
      return `recorded >= ${high()}`;
    case 'ge':
      return `recorded >= ${low()}`;
    case 'lt':
    case 'eb':
      return `recorded < ${low()}`;
    case 'le':
      return `recorded < ${high()}`;
  }
}

const anyOf = (conds: string[]): string => (conds.length === 1 ? conds[0] : `(${conds.join(' OR ')})`);

/** The id a reference search value names (`Patient/1`, `1`, or an absolute URL ending in `Patient/1`). */
function referenceParts(v: ReferenceValue): { type?: string; id?: string } {
  if (v.id) return { type: v.type, id: v.id };
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([^/]+?)(?:\/_history\/[^/]+)?$/.exec(v.url ?? '');
  return m ? { type: m[1], id: m[2] } : {};
}

function tokenCondition(b: SqlBuilder, code: string, values: TokenValue[]): string {
  const codes = values.map((v) => v.code).filter((c): c is string => c !== null);
  if (codes.length < values.length) return 'true'; // `system|`: any code of the system
  switch (code) {
    case 'type':
      return `type = ANY(${b.p(codes, 'text[]')})`;
    case 'subtype':
      return `subtype = ANY(${b.p(
        codes.map((c) => (c === '110122' ? 'login' : c)),
        'text[]',
      )})`;
    case 'action':
      return `action = ANY(${b.p(codes, 'text[]')})`;
    case 'outcome': {
      const n = codes.map(Number).filter((x) => Number.isInteger(x));
      return n.length ? `outcome = ANY(${b.p(n, 'smallint[]')})` : 'false';
    }
    case 'altid':
      return `client_id = ANY(${b.p(codes, 'text[]')})`;
  }
  throw badRequest(`AuditEvent search supports ${SUPPORTED}; '${code}' is not one of them`, code);
}

function criterionCondition(b: SqlBuilder, c: Criterion): string {
  switch (c.kind) {
    case 'id': {
      const ids = c.ids.filter((i) => UUID.test(i));
      return ids.length ? `id = ANY(${b.p(ids, 'uuid[]')})` : 'false';
    }
    case 'lastUpdated':
      return c.values.map((v) => dateCondition(b, v)).join(' AND ') || 'true';
    case 'date':
      if (c.code !== 'date') break;
      return [c.values, ...(c.also ?? [])].map((g) => anyOf(g.map((v) => dateCondition(b, v)))).join(' AND ');
    case 'compartment':
      if (c.type === 'Patient') return `patient @> ARRAY[${b.p(c.id, 'text')}]`;
      return `who = ${b.p(`${c.type}/${c.id}`, 'text')}`;
    case 'reference': {
      const refs = c.values.map(referenceParts).filter((r) => r.id !== undefined);
      if (!refs.length) return 'false';
      if (c.code === 'patient') {
        const ids = refs.filter((r) => !r.type || r.type === 'Patient').map((r) => r.id!);
        return ids.length ? `patient && ${b.p(ids, 'text[]')}` : 'false';
      }
      if (c.code === 'agent') {
        return anyOf(
          refs.map((r) =>
            r.type
              ? `who = ${b.p(`${r.type}/${r.id}`, 'text')}`
              : `(client_id = ${b.p(r.id, 'text')} OR right(who, ${r.id!.length + 1}) = ${b.p(`/${r.id}`, 'text')})`,
          ),
        );
      }
      if (c.code === 'entity') {
        const named = refs.filter((r) => r.type).map((r) => `${r.type}/${r.id}`);
        if (!named.length) return 'false';
        return `EXISTS (SELECT 1 FROM jsonb_array_elements_text(detail->'entities') e
          WHERE split_part(e, '/_history/', 1) = ANY(${b.p(named, 'text[]')}))`;
      }
      break;
    }
    case 'token':
      return `${c.not ? 'NOT ' : ''}${tokenCondition(b, c.code, c.values)}`;
    case 'string':
      if (c.code !== 'address') break;
      return anyOf(
        c.values.map((v) => (c.mode === 'exact' ? `address = ${b.p(v.exact, 'text')}` : `starts_with(lower(address), ${b.p(v.folded, 'text')})`)),
      );
    default:
      break;
  }
  throw badRequest(`AuditEvent search supports ${SUPPORTED}; '${'code' in c ? c.code : c.kind}' is not one of them`);
}

/** A search of type AuditEvent (search.ts's request, without includes), newest first unless `_sort=date`. */
export async function searchAuditEvents(
  db: Db,
  caller: Caller,
  request: Omit<SearchRequest, 'restriction'>,
  opts: AuditReadOptions,
): Promise<SearchResult> {
  assertAuditReader(caller);
  if (request.include.length) throw badRequest('AuditEvent searches take no _include or _revinclude', '_include');
  if (request.contained && request.contained !== 'false') throw badRequest('AuditEvents contain no resources', '_contained');
  const [sort, ...more] = request.sort;
  if (more.length || (sort && sort.code !== 'date' && sort.code !== '_lastUpdated')) throw badRequest('AuditEvents sort by date only', '_sort');
  const ascending = sort ? !sort.descending : false;

  const b = new SqlBuilder();
  const where = request.criteria.map((c) => criterionCondition(b, c));
  const compartment = compartmentCondition(b, caller);
  if (compartment) where.push(compartment);
  const filter = where.length ? where.join(' AND ') : 'true';

  let total: number | undefined;
  if (request.total === 'accurate' || request.total === 'estimate') {
    const counted = await db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_event WHERE ${filter}`, b.params);
    total = Number(counted.rows[0].n);
  }
  if (request.count === 0) return { matches: [], includes: [], total, warnings: [] };

  const page = [...b.params];
  const pb = new SqlBuilder(page);
  let after = '';
  if (request.cursor) {
    if (!UUID.test(request.cursor)) throw badRequest('Invalid _cursor', '_cursor');
    after = ` AND id ${ascending ? '>' : '<'} ${pb.p(request.cursor, 'uuid')}`;
  }
  const { rows } = await db.query<AuditRowRead>(
    `SELECT ${COLUMNS} FROM audit_event WHERE ${filter}${after} ORDER BY id ${ascending ? 'ASC' : 'DESC'} LIMIT ${request.count + 1}`,
    page,
  );
  const more_ = rows.length > request.count;
  const matches = rows.slice(0, request.count).map((r) => toFound(r, opts));
  if (total === undefined && request.total === 'complete' && !request.cursor && !more_) total = matches.length;
  return { matches, includes: [], total, next: more_ ? matches.at(-1)!.id : undefined, warnings: [] };
}
