/**
 * Searching contained resources — https://hl7.org/fhir/R4/search.html#contained: `_contained=true` searches only
 * resources inside another resource's `contained`, `both` those and top-level ones; `_containedType=container`
 * (default) returns the containers, each once, and `contained` the contained resources themselves, each with the
 * fullUrl `[base]/[ContainerType]/[containerId]#[localId]` (the container's URL and the local id).
 *
 * Storage (fhir/search/extract.ts extractContainedIndexRows; written by repository/writes.ts). A contained
 * resource's values are extracted with the R4 parameters of its own type into the same index tables as its
 * container's, each row with
 *   id            = the container's id: the distribution column (DESIGN.md §3), so a resource and what it contains
 *                   stay on one shard;
 *   resource_type = '<ContainedType>#<ContainerType>#<localId>' (its owner key), e.g. 'Medication#MedicationRequest#med1';
 * plus one search_token row `_id` = localId, which lists every contained resource (the candidates of a search with
 * no criterion to start from) and answers `_id`.
 * - A normal search never sees these rows: it asks for resource_type = 'Medication' (or correlates with a resource
 *   row's type), and no resource type has a '#'.
 * - They are replaced with the container's rows: the write statement deletes a resource's rows by id through the
 *   owner index (id, resource_type, param) with `resource_type = rt OR split_part(resource_type, '#', 2) = rt`,
 *   so an update that drops a contained resource, or the container's deletion, drops its rows as well. A custom
 *   parameter's reindex and purge touch `resource_type = base` only, and custom parameters are not extracted for
 *   contained resources (fhir/search/parse.ts refuses them here).
 * - A search finds them by contained type through partial expression indexes over these rows only (migration
 *   20261127000950): (split_part(resource_type, '#', 1), param, value…) WHERE strpos(resource_type, '#') > 0. An
 *   equality on the contained type works whatever the database's collation — a range `>= 'Medication#'` on
 *   resource_type is a prefix range only under C collation — and bounds param and value too, where a range on the
 *   leading column would read every contained Medication's rows. Normal searches keep their own indexes; writes of
 *   resources without contained ones add nothing to the new ones.
 *
 * A page is one statement: the keys of the page — (container id, owner key) per contained match, or (container id,
 * container type) per container, and (id, type) per top-level match for `both` — ordered by (id, key) and keyset
 * paged on them, then the page's resources read by primary key (a contained resource cut out of its container's
 * stored body). Contained matches start from the index rows of their most selective criterion (as compile/driven.ts
 * drivenSearch does), every other criterion correlated on (id, resource_type) = the owner key, so all of them hold
 * for the same contained resource. The access restriction applies to the container (it carries the contained
 * resource); `_lastUpdated` is the container's (dom-4: a contained resource has no meta.lastUpdated of its own).
 */
import type { Db } from '../../database/pool';
import { badRequest, type Issue } from '../../fhir/outcome';
import { INSTANT_SQL } from '../writes';
import { visible, type AccessRestriction } from './compile/access';
import { indexCondition } from './compile/criterion';
import { driverRank } from './compile/driven';
import { containedCriterion, criterionSql, mergeRanges, searchPredicate } from './compile/planner';
import { decodeCursor, encodeCursor, type PagePosition } from '../cursor';
import { SqlBuilder } from './compile/sql';
import type { FoundResource, SearchRequest, SearchResult } from './request';
import type { Criterion } from '../../fhir/search/criteria';

/** The owner key's parts (fhir/search/extract.ts containedKey); the literal '#' matches the partial indexes. */
const CONTAINED_ROW = (t: string): string => `strpos(${t}.resource_type, '#') > 0`;
const CONTAINED_TYPE = (t: string): string => `split_part(${t}.resource_type, '#', 1)`;
const CONTAINER_TYPE = (t: string): string => `split_part(${t}.resource_type, '#', 2)`;

/** A page continues after the (id, key) of its last match, in section 0 (cursor.ts). */
function cursorAt(r: PageRow, backward: boolean): string {
  return encodeCursor({ section: 0, keys: [r.key_id, r.key], backward });
}

interface KeyQuery {
  /** SELECT id, key … (no ORDER BY / LIMIT): every key of one branch */
  sql: (position?: string) => string;
}

/**
 * The keys of the contained matches: (container id, owner key) — or (container id, container type) when the
 * containers are returned — from the index rows `d` of the most selective criterion (else the `_id` rows).
 */
function containedKeys(
  b: SqlBuilder,
  type: string,
  criteria: Criterion[],
  restriction: AccessRestriction | undefined,
  containers: boolean,
): KeyQuery {
  const merged = mergeRanges(criteria.map(containedCriterion), type);
  let best: number | undefined;
  merged.forEach((c, i) => {
    const r = c.kind === 'chain' || c.kind === 'has' ? undefined : driverRank(c);
    if (r !== undefined && (best === undefined || r < driverRank(merged[best])!)) best = i;
  });
  const where: string[] = [`${CONTAINED_TYPE('d')} = ${b.p(type)}`, CONTAINED_ROW('d')];
  let table = 'search_token';
  if (best === undefined) where.push(`d.param = '_id'`);
  else {
    const ic = indexCondition(b, merged[best])!;
    table = ic.table;
    where.push(`d.param = ${b.p(ic.param)}`, ic.cond('d'));
  }
  // The container's row: for its lastUpdated and the access restriction (index rows exist for live resources only).
  let joinContainer = false;
  merged.forEach((c, i) => {
    if (i === best) return;
    if (c.kind === 'lastUpdated') {
      joinContainer = true;
      where.push(criterionSql(b, 'o', c));
    } else where.push(criterionSql(b, 'd', c, restriction, type, true));
  });
  const v = visible(b, 'o', restriction);
  if (v !== 'true') {
    joinContainer = true;
    where.push(v);
  }
  const key = containers ? CONTAINER_TYPE('d') : 'd.resource_type';
  const from = `${table} d${joinContainer ? ` JOIN resource o ON o.id = d.id AND o.resource_type = ${CONTAINER_TYPE('d')}` : ''}`;
  return {
    sql: (position) => `SELECT d.id, ${key} AS key FROM ${from}
      WHERE ${where.join('\n        AND ')}${position ? `\n        AND (d.id, ${key}) ${position}` : ''}
      GROUP BY 1, 2`,
  };
}

/** The keys of the top-level matches (`_contained=both`): (id, type), in primary-key order. */
function topLevelKeys(b: SqlBuilder, type: string, criteria: Criterion[], restriction: AccessRestriction | undefined): KeyQuery {
  const where = searchPredicate(b, 'r', [type], criteria, restriction);
  return {
    sql: (position) => `SELECT r.id, r.resource_type AS key FROM resource r
      WHERE ${where}${position ? `\n        AND (r.id, r.resource_type) ${position}` : ''}`,
  };
}

interface Plan {
  b: SqlBuilder;
  branches: KeyQuery[];
  /** UNION (containers: a container may also match itself) or UNION ALL (keys never overlap) */
  union: 'UNION' | 'UNION ALL';
  type: string;
  contained: boolean;
}

function plan(req: SearchRequest): Plan {
  const type = req.types?.length === 1 ? req.types[0] : undefined;
  if (!type) throw badRequest(`_contained=${req.contained} needs a single resource type`, '_contained');
  const b = new SqlBuilder();
  const containers = req.containedType !== 'contained';
  const branches = [containedKeys(b, type, req.criteria, req.restriction, containers)];
  if (req.contained === 'both') branches.unshift(topLevelKeys(b, type, req.criteria, req.restriction));
  return { b, branches, union: containers ? 'UNION' : 'UNION ALL', type, contained: !containers };
}

/** The statement of one page (also for EXPLAIN in tests): keys, then the resources they name. */
export function containedPageSql(req: SearchRequest, limit: number, cursor?: PagePosition): { sql: string; params: unknown[] } {
  const p = plan(req);
  const b = new SqlBuilder([...p.b.params]);
  const dir = cursor?.backward ? 'DESC' : 'ASC';
  const position = cursor ? `${cursor.backward ? '<' : '>'} (${b.p(cursor.keys[0], 'text')}, ${b.p(cursor.keys[1], 'text')})` : undefined;
  const branches = p.branches.map((k) => `(${k.sql(position)}\n      ORDER BY 1 ${dir}, 2 ${dir} LIMIT ${limit})`);
  const keys =
    branches.length === 1 ? branches[0] : `SELECT * FROM (${branches.join(`\n    ${p.union}\n    `)}) u ORDER BY 1 ${dir}, 2 ${dir} LIMIT ${limit}`;
  const containerType = p.contained ? `CASE WHEN strpos(k.key, '#') > 0 THEN split_part(k.key, '#', 2) ELSE k.key END` : 'k.key';
  // a contained resource: cut out of its container's stored body (jsonb, handed over as text like any content)
  const content = p.contained ? `CASE WHEN strpos(k.key, '#') > 0 THEN x.e ELSE r.content END` : 'r.content';
  const lateral = p.contained
    ? `
  LEFT JOIN LATERAL (SELECT e FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r.content -> 'contained') = 'array' THEN r.content -> 'contained' ELSE '[]'::jsonb END) e
                      WHERE strpos(k.key, '#') > 0 AND e ->> 'resourceType' = ${b.p(p.type)} AND e ->> 'id' = split_part(k.key, '#', 3) LIMIT 1) x ON true`
    : '';
  const sql = `WITH k AS MATERIALIZED (${keys})
SELECT k.id AS key_id, k.key, r.resource_type, r.version_id, ${INSTANT_SQL('r.last_updated')} AS last_updated, ${content} AS content
  FROM k JOIN resource r ON r.id = k.id AND r.resource_type = ${containerType}${lateral}
  ORDER BY k.id ${dir}, k.key ${dir}`;
  return { sql, params: b.params };
}

/** Counting the matches (`_total`): the distinct keys of every branch. */
export function containedCountSql(req: SearchRequest): { sql: string; params: unknown[] } {
  const p = plan(req);
  return { sql: `SELECT count(*)::int AS n FROM (${p.branches.map((k) => k.sql()).join(`\n    ${p.union}\n    `)}) u`, params: p.b.params };
}

interface PageRow {
  key_id: string;
  key: string;
  resource_type: string;
  version_id: number;
  last_updated: string;
  content: string | null;
}

function toFound(r: PageRow): FoundResource | undefined {
  if (r.content === null) return undefined; // the contained resource is gone from the body: impossible in one snapshot
  const [type, , localId] = r.key.split('#');
  if (localId === undefined)
    return { resourceType: r.resource_type, id: r.key_id, versionId: r.version_id, lastUpdated: r.last_updated, content: r.content };
  return {
    resourceType: type,
    id: localId,
    versionId: r.version_id,
    lastUpdated: r.last_updated,
    content: r.content,
    container: { resourceType: r.resource_type, id: r.key_id },
  };
}

/** executeSearch for `_contained=true|both` (fhir/search/parse.ts has refused `_sort`, includes, `_has`, `_list`, custom parameters). */
export async function executeContainedSearch(db: Db, req: SearchRequest): Promise<SearchResult> {
  if (req.sort.length || req.include.length)
    throw badRequest(`_sort, _include and _revinclude are not supported with _contained=${req.contained}`, '_contained');
  const warnings: Issue[] = [];
  const cursor = req.cursor ? decodeCursor(req.cursor, (c) => c.section === 0 && c.keys.length === 2 && c.keys.every((k) => k !== null)) : undefined;
  const backward = cursor?.backward === true;
  const result: SearchResult = { matches: [], includes: [], warnings };
  if (req.count > 0) {
    const q = containedPageSql(req, req.count + 1, cursor);
    const { rows } = await db.query<PageRow>(q.sql, q.params);
    const more = rows.length > req.count;
    const page = rows.slice(0, req.count);
    if (backward) page.reverse();
    result.matches = page.map(toFound).filter((f): f is FoundResource => f !== undefined);
    if (page.length) {
      const first = page[0];
      const last = page[page.length - 1];
      if (backward) {
        result.next = cursorAt(last, false);
        if (more) result.previous = cursorAt(first, true);
      } else {
        if (more) result.next = cursorAt(last, false);
        if (cursor) result.previous = cursorAt(first, true);
      }
    }
  }
  if ((req.total === 'accurate' || req.total === 'complete') && !cursor && !result.next && req.count > 0) {
    result.total = result.matches.length; // the first page, when it is the only page, counts itself
  } else if (req.total === 'accurate') {
    const q = containedCountSql(req);
    const { rows } = await db.query<{ n: number }>(q.sql, q.params);
    result.total = rows[0].n;
  } else if (req.total === 'estimate') {
    const q = containedCountSql(req);
    const { rows } = await db.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (FORMAT JSON) ${q.sql.replace(/^SELECT count\(\*\)::int AS n/, 'SELECT 1')}`,
      q.params,
    );
    const raw = rows[0]['QUERY PLAN'];
    const explained = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: { 'Plan Rows': number } }[];
    result.total = Math.round(explained[0].Plan['Plan Rows']);
  }
  return result;
}
