/**
 * Running a parsed search (https://hl7.org/fhir/R4/search.html): the page of matches with keyset paging, `_sort`,
 * `_total`, and `_include`/`_revinclude` (with `:iterate`), each as SQL built by compile/ (planner.ts) with the caller's
 * access restriction inside every statement.
 *
 * Paging is keyset paging, never OFFSET: the cursor holds the sort key values, id and type of the last (or, going
 * back, first) resource of a page, and the next page starts strictly after it, so resources created or deleted
 * between page fetches never make a page skip or repeat another resource. A resource whose own sort value changes
 * between fetches may move (it is read where its new value puts it).
 *
 * Order: `_sort` keys, then id and type (a total order). Resources lacking a sort value come last. With no
 * `_sort`, a type-level search with a criterion on an index table is ordered by id and paged from the index rows
 * (compile/driven.ts: one index entry per match, the resource table read only for the page); any other
 * search is ordered by `_lastUpdated` (the resource table's (resource_type, last_updated, id) index). A single
 * sort key walks the value index of its table through the per-resource `smin`/`smax` row — so the first page of
 * `_sort=-date` reads twenty index entries, not the whole table — and the resources without a value follow as a
 * second section.
 */
import { inTransaction, type Db } from '../../database/pool';
import { issue, type Issue } from '../../fhir/outcome';
import { searchParams } from '../../fhir/search/registry';
import { INSTANT_SQL } from '../writes';
import { accessCriteria, SEE, visible, type AccessRestriction } from './compile/access';
import { drivenSearch, type DrivenSearch } from './compile/driven';
import { searchPredicate } from './compile/planner';
import { decodeCursor, encodeCursor, type PagePosition } from '../cursor';
import { preparedStatement, SqlBuilder } from './compile/sql';
import type { Criterion, IncludeSpec, SortKey } from '../../fhir/search/criteria';
import { resolveTerminology } from './terminology';
import type { TerminologyRegistry } from '../../fhir/terminology/registry';
import { executeContainedSearch } from './contained';
import type { FoundResource, SearchRequest, SearchResult } from './request';

/** Most resources an `_include`/`_revinclude` pass adds to one page. */
export const MAX_INCLUDES = 1000;
const MAX_ITERATIONS = 4;

interface Key {
  expr: string;
  cast: string;
  descending: boolean;
  nullable: boolean;
}

interface Section {
  joins: string;
  where: string;
  keys: Key[];
  /** A search without `_sort` paged by id from index rows (compile/driven.ts), with its own parameters. */
  driven?: DrivenSearch;
}

/**
 * A reference's sort value: its url, else 'Type/id', in byte order — the expression of the index
 * search_reference_sort (migration 20261127000910), which the first page of `_sort=subject` walks.
 */
const REFERENCE_SORT = (t: string): string => `(coalesce(${t}.url, ${t}.target_type || '/' || ${t}.target_id) COLLATE "C")`;

interface Flagged {
  table: string;
  /** the sort value of a row aliased `a`, ascending and descending */
  asc: (a: string) => string;
  desc: (a: string) => string;
  cast: string;
  /** `a` is the resource's row with the lowest (highest, `descending`) value of its parameter */
  marked?: (a: string, descending: boolean) => string;
}

const column =
  (name: string) =>
  (a: string): string =>
    `${a}.${name}`;

const FLAGGED: Record<string, Flagged> = {
  string: { table: 'search_string', asc: column('value'), desc: column('value'), cast: 'text' },
  date: { table: 'search_date', asc: column('low'), desc: column('high'), cast: 'timestamptz' },
  number: { table: 'search_number', asc: column('low'), desc: column('high'), cast: 'numeric' },
  quantity: { table: 'search_quantity', asc: column('canon_low'), desc: column('canon_high'), cast: 'numeric' },
  reference: {
    table: 'search_reference',
    asc: REFERENCE_SORT,
    desc: REFERENCE_SORT,
    cast: 'text',
    // Rows written before the markers existed (migration 20261127000910) have none: such a row is the lowest
    // (highest) when no other row of its resource and parameter is lower (higher). Values of one resource's
    // parameter are distinct (extraction writes each once).
    marked: (a, descending) => {
      const flag = descending ? 'smax' : 'smin';
      const o = `${a}o`;
      return `(${a}.${flag} OR (${a}.${flag} IS NULL AND NOT EXISTS (SELECT 1 FROM search_reference ${o}
        WHERE ${o}.id = ${a}.id AND ${o}.resource_type = ${a}.resource_type AND ${o}.param = ${a}.param
          AND ${REFERENCE_SORT(o)} ${descending ? '>' : '<'} ${REFERENCE_SORT(a)})))`;
    },
  },
};

/** The condition picking the one row per resource that carries its sort value. */
function markedRow(f: Flagged, a: string, descending: boolean): string {
  return f.marked ? f.marked(a, descending) : `${a}.${descending ? 'smax' : 'smin'}`;
}

const AGGREGATED: Record<string, { table: string; column: string }> = {
  token: { table: 'search_token', column: 'code' },
  uri: { table: 'search_uri', column: 'value' },
};

/** The sections of a sorted search (see the module comment). */
function sections(b: SqlBuilder, base: string, sort: SortKey[]): Section[] {
  const tail: Key[] = [
    { expr: 'r.id', cast: 'text', descending: false, nullable: false },
    { expr: 'r.resource_type', cast: 'text', descending: false, nullable: false },
  ];
  if (sort.length === 0)
    return [{ joins: '', where: base, keys: [{ expr: 'r.last_updated', cast: 'timestamptz', descending: false, nullable: false }, ...tail] }];
  if (sort.length === 1 && FLAGGED[sort[0].type]) {
    const k = sort[0];
    const f = FLAGGED[k.type];
    const p = b.p(k.code);
    return [
      {
        joins: `JOIN ${f.table} s1 ON s1.id = r.id AND s1.resource_type = r.resource_type AND s1.param = ${p} AND ${markedRow(f, 's1', k.descending)}`,
        where: base,
        keys: [{ expr: (k.descending ? f.desc : f.asc)('s1'), cast: f.cast, descending: k.descending, nullable: false }, ...tail],
      },
      {
        joins: '',
        where: `${base}\n  AND NOT EXISTS (SELECT 1 FROM ${f.table} s1 WHERE s1.id = r.id AND s1.resource_type = r.resource_type AND s1.param = ${p})`,
        keys: tail,
      },
    ];
  }
  const joins: string[] = [];
  const keys: Key[] = sort.map((k, i) => {
    if (k.type === 'id') return { expr: 'r.id', cast: 'text', descending: k.descending, nullable: false };
    if (k.type === 'lastUpdated') return { expr: 'r.last_updated', cast: 'timestamptz', descending: k.descending, nullable: false };
    const f = FLAGGED[k.type];
    if (f) {
      const a = `s${i + 1}`;
      joins.push(
        `LEFT JOIN ${f.table} ${a} ON ${a}.id = r.id AND ${a}.resource_type = r.resource_type AND ${a}.param = ${b.p(k.code)} AND ${markedRow(f, a, k.descending)}`,
      );
      return { expr: (k.descending ? f.desc : f.asc)(a), cast: f.cast, descending: k.descending, nullable: true };
    }
    const g = AGGREGATED[k.type];
    const expr = `(SELECT ${k.descending ? 'max' : 'min'}(x.${g.column}) FROM ${g.table} x WHERE x.id = r.id AND x.resource_type = r.resource_type AND x.param = ${b.p(k.code)})`;
    return { expr, cast: 'text', descending: k.descending, nullable: true };
  });
  return [{ joins: joins.join('\n'), where: base, keys: [...keys, ...tail] }];
}

/**
 * "Strictly after the cursor" in the order of `keys` (nulls last), or — `backward` — strictly before it.
 * A redundant bound on a non-null first key keeps the condition an index range.
 */
function afterCursor(b: SqlBuilder, keys: Key[], vals: (string | null)[], backward: boolean): string {
  let acc = '';
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i];
    const v = vals[i];
    const up = k.descending === backward; // the key increases in the walking direction
    let strict: string;
    let equal: string;
    if (v === null) {
      strict = backward ? `${k.expr} IS NOT NULL` : 'false';
      equal = `${k.expr} IS NULL`;
    } else {
      const c = b.p(v, k.cast);
      strict = `${k.expr} ${up ? '>' : '<'} ${c}`;
      if (k.nullable && !backward) strict = `(${strict} OR ${k.expr} IS NULL)`;
      equal = `${k.expr} = ${c}`;
    }
    acc = acc ? `(${strict} OR (${equal} AND ${acc}))` : strict;
  }
  const first = keys[0];
  if (!first.nullable && vals[0] !== null) {
    const up = first.descending === backward;
    acc = `${first.expr} ${up ? '>=' : '<='} ${b.p(vals[0], first.cast)} AND ${acc}`;
  }
  return acc;
}

function orderBy(keys: Key[], backward: boolean): string {
  return keys
    .map((k) => {
      const desc = k.descending !== backward;
      return `${k.expr} ${desc ? 'DESC' : 'ASC'}${k.nullable ? (backward ? ' NULLS FIRST' : ' NULLS LAST') : ''}`;
    })
    .join(', ');
}

/** Criteria whose plan does not depend on their values: token and reference equality, ids, and chains of them. */
export function equalityOnly(criteria: Criterion[]): boolean {
  return criteria.every((c) => {
    switch (c.kind) {
      case 'id':
      case 'reference':
        return true;
      case 'token':
        return !c.not && c.values.every((v) => v.code !== null && v.system !== undefined);
      case 'chain':
        return c.targets.every((t) => equalityOnly([t.criterion]));
      default:
        return false;
    }
  });
}

interface Row {
  id: string;
  resource_type: string;
  version_id: number;
  last_updated: string;
  content: string;
  keys: (string | null)[];
  section: number;
}

const COLUMNS = `r.id, r.resource_type, r.version_id, ${INSTANT_SQL('r.last_updated')} AS last_updated, r.content`;

/** The key order of a driven search: id (the type is fixed). */
const ID_KEYS: Key[] = [
  { expr: 'r.id', cast: 'text', descending: false, nullable: false },
  { expr: 'r.resource_type', cast: 'text', descending: false, nullable: false },
];

/** The key order of a search driven by a string criterion (compile/driven.ts DrivenSearch.byValue): value, then id. */
const VALUE_KEYS: Key[] = [{ expr: 'd.value', cast: 'text', descending: false, nullable: false }, ...ID_KEYS];

/**
 * A page of a search driven by a string criterion: the first `limit` matching index rows in (value, id) order
 * that are their resource's first match, keyset-paged on (value, id) — the value index is walked from the
 * cursor and stops at the page, however many resources match.
 */
function drivenByValueSql(
  d: DrivenSearch,
  limit: number,
  cursor: PagePosition | undefined,
  backward: boolean,
): { sql: string; params: unknown[]; keyCount: number } {
  const b = new SqlBuilder([...d.params]);
  const dir = backward ? 'DESC' : 'ASC';
  let after = '';
  if (cursor) {
    const v = b.p(cursor.keys[0], 'text');
    // the redundant bound on the value alone keeps it a range of the value index
    after = `\n      AND d.value ${backward ? '<=' : '>='} ${v} AND (d.value, d.id COLLATE "C") ${backward ? '<' : '>'} (${v}, ${b.p(cursor.keys[1], 'text')})`;
  }
  const sql = `SELECT ${COLUMNS}, k.value AS k0
  FROM (SELECT d.value, d.id COLLATE "C" AS id FROM ${d.from}
     WHERE ${d.where}
       AND ${d.byValue!.first}${after}
     GROUP BY 1, 2 ORDER BY 1 ${dir}, 2 ${dir} LIMIT ${limit}) k
  JOIN resource r ON r.id = k.id COLLATE "default" AND r.resource_type = ${b.p(d.type)}
  WHERE NOT r.deleted
  ORDER BY k.value ${dir}, k.id ${dir}`;
  return { sql, params: b.params, keyCount: 1 };
}

function drivenSectionSql(
  d: DrivenSearch,
  limit: number,
  cursor: PagePosition | undefined,
  backward: boolean,
): { sql: string; params: unknown[]; keyCount: number } {
  if (d.byValue) return drivenByValueSql(d, limit, cursor, backward);
  const b = new SqlBuilder([...d.params]);
  // Byte order (COLLATE "C"): the same total order everywhere, and far cheaper to group and sort than a locale's;
  // the ids go back to the column's collation to probe the primary key.
  const after = cursor ? `\n      AND d.id COLLATE "C" ${backward ? '<' : '>'} ${b.p(cursor.keys[0], 'text')}` : '';
  const dir = backward ? 'DESC' : 'ASC';
  const sql = `SELECT ${COLUMNS}
  FROM resource r
  WHERE r.resource_type = ${b.p(d.type)} AND NOT r.deleted
    AND r.id IN (SELECT k.id COLLATE "default" FROM (SELECT d.id COLLATE "C" AS id FROM ${d.from}
     WHERE ${d.where}${after}
     GROUP BY 1 ORDER BY 1 ${dir} LIMIT ${limit}) k)
  ORDER BY r.id COLLATE "C" ${dir}`;
  return { sql, params: b.params, keyCount: 0 };
}

function sectionSql(
  params: unknown[],
  sec: Section,
  limit: number,
  cursor: PagePosition | undefined,
  backward: boolean,
): { sql: string; params: unknown[]; keyCount: number } {
  if (sec.driven) return drivenSectionSql(sec.driven, limit, cursor, backward);
  const b = new SqlBuilder([...params]);
  let where = sec.where;
  if (cursor) where += `\n  AND ${afterCursor(b, sec.keys, cursor.keys, backward)}`;
  const keyCols = sec.keys.slice(0, -2).map((k, i) => `(${k.expr})::text AS k${i}`);
  const sql = `SELECT ${COLUMNS}${keyCols.length ? `, ${keyCols.join(', ')}` : ''}
  FROM resource r ${sec.joins}
  WHERE ${where}
  ORDER BY ${orderBy(sec.keys, backward)}
  LIMIT ${limit}`;
  return { sql, params: b.params, keyCount: keyCols.length };
}

async function querySection(
  db: Db,
  params: unknown[],
  sec: Section,
  index: number,
  limit: number,
  cursor: PagePosition | undefined,
  backward: boolean,
  prepare: boolean,
): Promise<Row[]> {
  const q = sectionSql(params, sec, limit, cursor, backward);
  const { rows } = await db.query<Record<string, unknown>>(prepare ? preparedStatement(q.sql, q.params) : { text: q.sql, values: q.params });
  return rows.map((r) => ({
    id: r.id as string,
    resource_type: r.resource_type as string,
    version_id: r.version_id as number,
    last_updated: r.last_updated as string,
    content: r.content as string,
    keys: Array.from({ length: q.keyCount }, (_, i) => (r[`k${i}`] as string | null) ?? null),
    section: index,
  }));
}

/** The sections of a search: driven by index rows when it has no `_sort` and a driving criterion. */
function searchSections(b: SqlBuilder, base: string, req: SearchRequest): Section[] {
  const driven = req.sort.length === 0 && req.types?.length === 1 ? drivenSearch(req.types[0], req.criteria, req.restriction) : undefined;
  if (driven) return [{ joins: '', where: '', keys: driven.byValue ? VALUE_KEYS : ID_KEYS, driven }];
  return sections(b, base, req.sort);
}

/** The SQL of the first page of a search, one statement per section (for EXPLAIN in tests and benchmarks). */
export function firstPageSql(req: SearchRequest): { sql: string; params: unknown[] }[] {
  const b = new SqlBuilder();
  const base = searchPredicate(b, 'r', req.types, req.criteria, req.restriction);
  const secs = searchSections(b, base, req);
  return secs.map((sec) => {
    const q = sectionSql(b.params, sec, req.count + 1, undefined, false);
    return { sql: q.sql, params: q.params };
  });
}

function toFound(r: { id: string; resource_type: string; version_id: number; last_updated: string; content: string }): FoundResource {
  return { resourceType: r.resource_type, id: r.id, versionId: r.version_id, lastUpdated: r.last_updated, content: r.content };
}

function cursorOf(r: Row, backward: boolean): string {
  return encodeCursor({ section: r.section, keys: [...r.keys, r.id, r.resource_type], backward });
}

async function countMatches(db: Db, where: string, params: unknown[], mode: 'estimate' | 'accurate', driven?: DrivenSearch): Promise<number> {
  if (mode === 'estimate') {
    const { rows } = await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE ${where}`, params);
    const raw = rows[0]['QUERY PLAN'];
    const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: { 'Plan Rows': number } }[];
    return Math.round(plan[0].Plan['Plan Rows']);
  }
  const q = driven ? drivenCountSql(driven) : { sql: `SELECT count(*)::int AS n FROM resource r WHERE ${where}`, params };
  const { rows } = await db.query<{ n: number }>(q.sql, q.params);
  return rows[0].n;
}

/** The reference parameters of a type (for `_include=*`). */
function referenceParams(type: string): string[] {
  return searchParams(type)
    .filter((p) => p.type === 'reference')
    .map((p) => p.code);
}

/** The SQL of an accurate `_total` (for EXPLAIN in tests and benchmarks). */
export function countSql(req: SearchRequest): { sql: string; params: unknown[] } {
  const driven = req.types?.length === 1 ? drivenSearch(req.types[0], req.criteria, req.restriction) : undefined;
  if (driven) return drivenCountSql(driven);
  const b = new SqlBuilder();
  const base = searchPredicate(b, 'r', req.types, req.criteria, req.restriction);
  return { sql: `SELECT count(*)::int AS n FROM resource r WHERE ${base}`, params: b.params };
}

/** Counting a driven search: its distinct ids, from the index rows alone. */
function drivenCountSql(d: DrivenSearch): { sql: string; params: unknown[] } {
  // byValue.first holds for one value of each matching resource: the same ids, and every parameter used
  const where = d.byValue ? `${d.where}\n      AND ${d.byValue.first}` : d.where;
  return { sql: `SELECT count(*)::int AS n FROM (SELECT d.id FROM ${d.from} WHERE ${where} GROUP BY d.id) x`, params: d.params };
}

/** The statement of one `_include`/`_revinclude` pass over `sources` (undefined when it has nothing to read). */
export function includeSql(
  spec: IncludeSpec,
  sources: { resourceType: string; id: string }[],
  restriction: AccessRestriction | undefined,
  limit: number,
): { sql: string; params: unknown[] } | undefined {
  const b = new SqlBuilder();
  let sql: string;
  if (!spec.reverse) {
    const byType = new Map<string, string[]>();
    for (const s of sources) {
      if (spec.sourceType !== '*' && s.resourceType !== spec.sourceType) continue;
      if (!byType.has(s.resourceType)) byType.set(s.resourceType, []);
      byType.get(s.resourceType)!.push(s.id);
    }
    if (byType.size === 0) return undefined;
    const ors = [...byType].map(([type, ids]) => {
      const params = spec.params[0] === '*' ? referenceParams(type) : spec.params;
      return `(ref.resource_type = ${b.p(type)} AND ref.id = ANY(${b.p(ids, 'text[]')}) AND ref.param = ANY(${b.p(params, 'text[]')}))`;
    });
    const target = spec.targetType ? ` AND ref.target_type = ${b.p(spec.targetType)}` : '';
    sql = `SELECT ${COLUMNS} FROM resource r
      WHERE (r.id, r.resource_type) IN (SELECT ref.target_id, ref.target_type FROM search_reference ref
                                        WHERE (${ors.join(' OR ')}) AND ref.target_id IS NOT NULL${target})
        AND NOT r.deleted AND ${visible(b, 'r', restriction, undefined, SEE)}
      LIMIT ${limit}`;
  } else {
    const targets = sources.filter((s) => !spec.targetType || s.resourceType === spec.targetType);
    if (targets.length === 0) return undefined;
    sql = `SELECT ${COLUMNS} FROM resource r
      WHERE r.resource_type = ${b.p(spec.sourceType)} AND NOT r.deleted
        AND r.id IN (SELECT ref.id FROM search_reference ref
                      WHERE ref.resource_type = ${b.p(spec.sourceType)} AND ref.param = ANY(${b.p(spec.params, 'text[]')})
                        AND ref.target_id = ANY(${b.p(
                          targets.map((t) => t.id),
                          'text[]',
                        )})
                        AND (ref.target_type || '/' || ref.target_id) = ANY(${b.p(
                          targets.map((t) => `${t.resourceType}/${t.id}`),
                          'text[]',
                        )}))
        AND ${visible(b, 'r', restriction, spec.sourceType, SEE)}
      LIMIT ${limit}`;
  }
  return { sql, params: b.params };
}

async function includePass(
  db: Db,
  specs: IncludeSpec[],
  sources: FoundResource[],
  restriction: AccessRestriction | undefined,
  limit: number,
): Promise<FoundResource[]> {
  const found: FoundResource[] = [];
  for (const spec of specs) {
    if (found.length >= limit) break;
    const q = includeSql(spec, sources, restriction, limit - found.length);
    if (!q) continue;
    const { rows } = await db.query<{ id: string; resource_type: string; version_id: number; last_updated: string; content: string }>(
      preparedStatement(q.sql, q.params),
    );
    for (const r of rows) found.push(toFound(r));
  }
  return found;
}

async function includes(db: Db, req: SearchRequest, matches: FoundResource[], warnings: Issue[]): Promise<FoundResource[]> {
  const seen = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
  const out: FoundResource[] = [];
  const add = (rs: FoundResource[]): FoundResource[] => {
    const fresh: FoundResource[] = [];
    for (const r of rs) {
      const key = `${r.resourceType}/${r.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      fresh.push(r);
    }
    out.push(...fresh);
    return fresh;
  };
  let fresh = add(await includePass(db, req.include, matches, req.restriction, MAX_INCLUDES));
  const iterating = req.include.filter((s) => s.iterate);
  for (let i = 0; i < MAX_ITERATIONS && iterating.length && fresh.length && out.length < MAX_INCLUDES; i++) {
    fresh = add(await includePass(db, iterating, fresh, req.restriction, MAX_INCLUDES - out.length));
  }
  if (out.length >= MAX_INCLUDES) {
    warnings.push(issue('warning', 'too-costly', `Included resources were limited to ${MAX_INCLUDES}; narrow the search to see all of them`));
  }
  return out;
}

/** Matches and includes read from one snapshot when there are several statements. */
async function withSnapshot<T>(db: Db, needed: boolean, fn: (db: Db) => Promise<T>): Promise<T> {
  // a connection is already in a transaction (a bundle's): its reads see that transaction's writes
  if (!needed || 'release' in db) return fn(db);
  return inTransaction(db, fn, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
}

export async function executeSearch(db: Db, req: SearchRequest, terminology?: TerminologyRegistry): Promise<SearchResult> {
  const warnings: Issue[] = [];
  await resolveTerminology(db, req.criteria, terminology);
  if (req.contained === 'true' || req.contained === 'both') return executeContainedSearch(db, req);
  const b = new SqlBuilder();
  const base = searchPredicate(b, 'r', req.types, req.criteria, req.restriction);
  const baseParams = [...b.params];

  const secs = searchSections(b, base, req);
  const params = b.params;
  // the keys are the section's sort values, then id and type (never null)
  const fits = (c: PagePosition): boolean =>
    c.section < secs.length && c.keys.length === secs[c.section].keys.length && c.keys.slice(-2).every((k) => k !== null);
  const cursor = req.cursor ? decodeCursor(req.cursor, fits) : undefined;
  const backward = cursor?.backward === true;
  // an access restriction is equality on ids (compartment, types) unless a granular filter says otherwise
  const prepare = req.criteria.length > 0 && equalityOnly(req.criteria) && equalityOnly(accessCriteria(req.restriction));
  const result = await withSnapshot(db, req.include.length > 0 && req.count > 0, async (db) => {
    let rows: Row[] = [];
    if (req.count > 0) {
      const want = req.count + 1;
      const order = backward
        ? [...secs.keys()].filter((i) => i <= cursor!.section).reverse()
        : [...secs.keys()].filter((i) => i >= (cursor?.section ?? 0));
      for (const i of order) {
        const c = cursor && i === cursor.section ? cursor : undefined;
        rows.push(...(await querySection(db, params, secs[i], i, want - rows.length, c, backward, prepare)));
        if (rows.length >= want) break;
      }
    }
    const more = rows.length > req.count;
    rows = rows.slice(0, req.count);
    if (backward) rows.reverse();
    const page: SearchResult = { matches: rows.map(toFound), includes: [], warnings };
    if (rows.length) {
      if (backward) {
        page.next = cursorOf(rows[rows.length - 1], false);
        if (more) page.previous = cursorOf(rows[0], true);
      } else {
        if (more) page.next = cursorOf(rows[rows.length - 1], false);
        if (cursor) page.previous = cursorOf(rows[0], true);
      }
    }
    if (req.include.length && page.matches.length) page.includes = await includes(db, req, page.matches, warnings);
    return page;
  });
  if ((req.total === 'accurate' || req.total === 'complete') && !cursor && !result.next && req.count > 0) {
    result.total = result.matches.length; // the first page, when it is the only page, counts itself
  } else if (req.total === 'accurate' || req.total === 'estimate') {
    result.total = await countMatches(db, base, baseParams, req.total, secs[0].driven);
  }
  return result;
}
