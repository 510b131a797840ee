/**
 * Reading the audit log: the read path (repository/reads.ts) sends every read, vread and search of the type
 * AuditEvent here, so AuditEvents are served by the same routes, bundle entries and Bundle rendering as every other
 * type while they live in their own lean table (audit_batch: one row per written batch, migration 20261205000200)
 * instead of the clinical tables. Each condition is asked twice: of the batch (its patients, agents and time span,
 * which the indexes answer) and of each event in the batches found.
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
import type { AuditRow } from './log';
import { renderAuditEvent, type AuditRowRead } from './render';

export const AUDIT_EVENT = 'AuditEvent';

/** Every event of the batches `b` a query reaches, with its position `e.ord` (1-based). */
const EVENTS = `audit_batch b CROSS JOIN LATERAL jsonb_array_elements(b.events::jsonb) WITH ORDINALITY AS e(ev, ord)`;
const EVENT_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([1-9]\d{0,5})$/i;
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

/** A condition on the batch (answered by its indexes; optional) and on each of its events. */
interface Cond {
  batch?: string;
  event: string;
}

const and = (cs: Cond[]): Cond => {
  const batch = cs.map((c) => c.batch).filter((x): x is string => x !== undefined);
  return { batch: batch.length ? batch.join(' AND ') : undefined, event: cs.map((c) => c.event).join(' AND ') || 'true' };
};
const or = (cs: Cond[]): Cond => {
  if (cs.length === 1) return cs[0];
  const batch = cs.every((c) => c.batch !== undefined) ? `(${cs.map((c) => c.batch).join(' OR ')})` : undefined;
  return { batch, event: `(${cs.map((c) => c.event).join(' OR ')})` };
};

/** Events about any of these patients (`ids`: an SQL text[] expression). */
const aboutPatients = (ids: string): Cond => ({ batch: `b.patients && ${ids}`, event: `(e.ev->'patient') ?| ${ids}` });

/**
 * The caller's compartment on the audit log: a patient-confined reader sees the events about its patients (a
 * RelatedPerson's through its links); a reader whose access to AuditEvent has no compartment sees every event.
 */
function compartmentCondition(b: SqlBuilder, caller: Caller): Cond | undefined {
  if (!caller.access) return undefined;
  const rules = (['r', 's'] as const)
    .flatMap((p) => caller.access!.rules[p] ?? [])
    .filter((r) => !r.resourceTypes || r.resourceTypes.includes(AUDIT_EVENT));
  if (rules.some((r) => !r.compartment)) return undefined;
  const ors = rules.flatMap((r): Cond[] => {
    const c = r.compartment!;
    if (c.type !== 'Patient') return [];
    if (c.via) {
      return [
        aboutPatients(`ARRAY(SELECT v.target_id FROM search_reference v WHERE v.id = ${b.p(c.via.id)} AND v.resource_type = ${b.p(c.via.type)}
                 AND v.param = ${b.p(c.via.param)} AND v.target_type = 'Patient')`),
      ];
    }
    return c.id === undefined ? [] : [aboutPatients(`ARRAY[${b.p(c.id, 'text')}]`)];
  });
  return ors.length ? or(ors) : { batch: 'false', event: 'false' };
}

function toFound(id: string, evText: string, opts: AuditReadOptions): FoundResource {
  const ev = JSON.parse(evText) as AuditRow;
  const row: AuditRowRead = {
    id,
    recorded: ev.recorded,
    type: ev.type,
    subtype: ev.subtype,
    action: ev.action,
    outcome: ev.outcome,
    client_id: ev.client_id ?? null,
    who: ev.who ?? null,
    address: ev.address ?? null,
    patient: ev.patient ?? null,
    request_id: ev.request_id ?? null,
    detail: (ev.detail as AuditRowRead['detail']) ?? null,
  };
  return {
    resourceType: AUDIT_EVENT,
    id,
    versionId: 1,
    lastUpdated: row.recorded,
    content: JSON.stringify(renderAuditEvent(row, { baseUrl: opts.baseUrl, authBase: authBaseOf(opts.baseUrl) })),
  };
}

async function queryEvents(db: Db, b: SqlBuilder, where: Cond, tail: string): Promise<{ id: string; ev: string }[]> {
  const { rows } = await db.query<{ id: string; ev: string }>(
    `SELECT b.id::text || '.' || e.ord AS id, e.ev::text AS ev FROM ${EVENTS} WHERE ${where.batch ?? 'true'} AND ${where.event} ${tail}`,
    b.params,
  );
  return rows;
}

/** `AuditEvent/{id}` (and its only version, 1); the id is `{batch}.{position}`. */
export async function readAuditEvent(db: Db, caller: Caller, id: string, opts: AuditReadOptions, versionId?: string): Promise<StoredVersion> {
  assertAuditReader(caller);
  const m = EVENT_ID.exec(id);
  if (!m || (versionId !== undefined && versionId !== '1')) {
    throw notFound(versionId === undefined ? `AuditEvent/${id} is not known` : `AuditEvent/${id} has no version ${versionId}`);
  }
  const b = new SqlBuilder();
  const conds: Cond[] = [{ batch: `b.id = ${b.p(m[1], 'uuid')}`, event: `e.ord = ${b.p(Number(m[2]), 'bigint')}` }];
  const compartment = compartmentCondition(b, caller);
  if (compartment) conds.push(compartment);
  const [row] = await queryEvents(db, b, and(conds), '');
  if (!row) throw notFound(`AuditEvent/${id} is not known`);
  const found = toFound(row.id, row.ev, opts);
  return { resourceType: AUDIT_EVENT, id, versionId: 1, lastUpdated: found.lastUpdated, deleted: false, content: found.content };
}

/** An instant as the events store it (`toISOString`), so that text order is time order. */
const instant = (iso: string): string => new Date(iso).toISOString();

function dateCondition(b: SqlBuilder, v: DateValue): Cond {
  const at = `(e.ev->>'recorded')`;
  const from = (t: string): Cond => ({ batch: `b.last_recorded >= ${b.p(instant(t), 'timestamptz')}`, event: `${at} >= ${b.p(instant(t), 'text')}` });
  const before = (t: string): Cond => ({
    batch: `b.first_recorded < ${b.p(instant(t), 'timestamptz')}`,
    event: `${at} < ${b.p(instant(t), 'text')}`,
  });
  switch (v.prefix) {
    case 'eq':
    case 'ap':
      return and([from(v.range.low), before(v.range.high)]);
    case 'ne':
      return { event: `NOT (${at} >= ${b.p(instant(v.range.low), 'text')} AND ${at} < ${b.p(instant(v.range.high), 'text')})` };
    case 'gt':
    case 'sa':
      return from(v.range.high);
    case 'ge':
      return from(v.range.low);
    case 'lt':
    case 'eb':
      return before(v.range.low);
    case 'le':
      return before(v.range.high);
  }
}

/** The id a reference search value names (`Patient/1`, `1`, or an absolute URL ending in `Patient/1`). */
function referenceParts(v: ReferenceValue): { type?: string; id?: string } {
  if (v.id) return { type: v.type, id: v.id };
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([^/]+?)(?:\/_history\/[^/]+)?$/.exec(v.url ?? '');
  return m ? { type: m[1], id: m[2] } : {};
}

function tokenCondition(b: SqlBuilder, code: string, values: TokenValue[]): Cond {
  const codes = values.map((v) => v.code).filter((c): c is string => c !== null);
  if (codes.length < values.length) return { event: 'true' }; // `system|`: any code of the system
  const field = (name: string, list: string[]): string => `(e.ev->>'${name}') = ANY(${b.p(list, 'text[]')})`;
  switch (code) {
    case 'type':
    case 'action':
      return { event: field(code, codes) };
    case 'subtype':
      return {
        event: field(
          code,
          codes.map((c) => (c === '110122' ? 'login' : c === '110123' ? 'logout' : c)),
        ),
      };
    case 'outcome':
      return { event: field(code, codes.filter((c) => /^\d{1,2}$/.test(c)).map(String)) };
    case 'altid':
      return { batch: `b.agents && ${b.p(codes, 'text[]')}`, event: field('client_id', codes) };
  }
  throw badRequest(`AuditEvent search supports ${SUPPORTED}; '${code}' is not one of them`, code);
}

function criterionCondition(b: SqlBuilder, c: Criterion): Cond {
  switch (c.kind) {
    case 'id': {
      const ids = c.ids.map((i) => EVENT_ID.exec(i)).filter((m): m is RegExpExecArray => m !== null);
      if (!ids.length) return { batch: 'false', event: 'false' };
      return or(ids.map((m) => ({ batch: `b.id = ${b.p(m[1], 'uuid')}`, event: `e.ord = ${b.p(Number(m[2]), 'bigint')}` })));
    }
    case 'lastUpdated':
      return and(c.values.map((v) => dateCondition(b, v)));
    case 'date':
      if (c.code !== 'date') break;
      return and([c.values, ...(c.also ?? [])].map((g) => or(g.map((v) => dateCondition(b, v)))));
    case 'compartment':
      if (c.type === 'Patient') return aboutPatients(`ARRAY[${b.p(c.id, 'text')}]`);
      return { batch: `b.agents && ARRAY[${b.p(`${c.type}/${c.id}`, 'text')}]`, event: `(e.ev->>'who') = ${b.p(`${c.type}/${c.id}`, 'text')}` };
    case 'reference': {
      const refs = c.values.map(referenceParts).filter((r) => r.id !== undefined);
      if (!refs.length) return { batch: 'false', event: 'false' };
      if (c.code === 'patient') {
        const ids = refs.filter((r) => !r.type || r.type === 'Patient').map((r) => r.id!);
        return ids.length ? aboutPatients(b.p(ids, 'text[]')) : { batch: 'false', event: 'false' };
      }
      if (c.code === 'agent') {
        // a user's FHIR reference (`Practitioner/7`) or a client id
        const keys = refs.map((r) => (r.type ? `${r.type}/${r.id}` : r.id!));
        const list = b.p(keys, 'text[]');
        return { batch: `b.agents && ${list}`, event: `((e.ev->>'who') = ANY(${list}) OR (e.ev->>'client_id') = ANY(${list}))` };
      }
      if (c.code === 'entity') {
        const named = refs.filter((r) => r.type).map((r) => `${r.type}/${r.id}`);
        if (!named.length) return { batch: 'false', event: 'false' };
        return {
          event: `EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(e.ev->'detail'->'entities', '[]')) x
            WHERE split_part(x, '/_history/', 1) = ANY(${b.p(named, 'text[]')}))`,
        };
      }
      break;
    }
    case 'token': {
      const t = tokenCondition(b, c.code, c.values);
      return c.not ? { event: `NOT coalesce(${t.event}, false)` } : t;
    }
    case 'string':
      if (c.code !== 'address') break;
      return or(
        c.values.map((v) => ({
          event:
            c.mode === 'exact' ? `(e.ev->>'address') = ${b.p(v.exact, 'text')}` : `starts_with(lower(e.ev->>'address'), ${b.p(v.folded, 'text')})`,
        })),
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
  const conds = request.criteria.map((c) => criterionCondition(b, c));
  const compartment = compartmentCondition(b, caller);
  if (compartment) conds.push(compartment);
  const where = and(conds);

  let total: number | undefined;
  if (request.total === 'accurate' || request.total === 'estimate') {
    const counted = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${EVENTS} WHERE ${where.batch ?? 'true'} AND ${where.event}`, b.params);
    total = Number(counted.rows[0].n);
  }
  if (request.count === 0) return { matches: [], includes: [], total, warnings: [] };

  const page = new SqlBuilder([...b.params]);
  let after = '';
  if (request.cursor) {
    const m = EVENT_ID.exec(request.cursor);
    if (!m) throw badRequest('Invalid _cursor', '_cursor');
    after = `AND (b.id, e.ord) ${ascending ? '>' : '<'} (${page.p(m[1], 'uuid')}, ${page.p(Number(m[2]), 'bigint')})`;
  }
  const dir = ascending ? 'ASC' : 'DESC';
  const rows = await queryEvents(db, page, where, `${after} ORDER BY b.id ${dir}, e.ord ${dir} LIMIT ${request.count + 1}`);
  const hasMore = rows.length > request.count;
  const matches = rows.slice(0, request.count).map((r) => toFound(r.id, r.ev, opts));
  if (total === undefined && request.total === 'complete' && !request.cursor && !hasMore) total = matches.length;
  return { matches, includes: [], total, next: hasMore ? matches.at(-1)!.id : undefined, warnings: [] };
}
