/**
 * The SQL of resource writes, set-based: one statement writes any number of versions everywhere they live — the
 * current row, the history row, the extracted search values and the reference links — as multi-row operations
 * over arrays (`unnest`). A single create is one round trip; a 500-resource transaction bundle is one statement,
 * not thousands of round trips.
 *
 * lastUpdated comes from the database clock inside the writing statement (truncated to milliseconds, as FHIR
 * instants are usually read), never from the application: history's commit horizon (history.ts) relies on every
 * version's lastUpdated being no earlier than the start of the transaction that wrote it.
 *
 * Search index tables are declared in INDEX_TABLES; the extraction layer (fhir/search/extract.ts) produces rows
 * for them, and this module deletes a resource's old rows and inserts the new ones in the same statement.
 */
import type { LocalReference } from '../fhir/references';

export const INSTANT_SQL = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** An index table: besides (id, resource_type) every row has these columns, in this order. */
export interface IndexTable {
  name: string;
  columns: { name: string; sqlType: string }[];
}

export const INDEX_TABLES: IndexTable[] = [
  {
    name: 'search_token',
    columns: [
      { name: 'param', sqlType: 'text' },
      { name: 'system', sqlType: 'text' },
      { name: 'code', sqlType: 'text' },
    ],
  },
];

/** Index rows of one resource version: table name → rows (each row in the table's column order). */
export type IndexRows = Record<string, unknown[][]>;

export interface VersionWrite {
  resourceType: string;
  id: string;
  versionId: number;
  method: WriteMethod;
  /** Resource JSON text without server meta (set here); undefined for a deletion. */
  content?: string;
  index: IndexRows;
  links: LocalReference[];
  /** true: no row exists yet for (id, type); false: the row exists (update, re-create after delete, delete). */
  insert: boolean;
}

/** A written version as the database stored it. */
export interface WrittenVersion {
  lastUpdated: string;
  content: string | null;
}

interface Statement {
  text: string;
  values: unknown[];
}

function buildSql(): string {
  // $1..$6: the versions; $7..$9: the links (source index, target type, target id); then per index table: the
  // source index array followed by one array per column.
  let n = 10;
  const indexCtes: string[] = [];
  for (const t of INDEX_TABLES) {
    const src = `$${n++}`;
    const cols = t.columns.map((c) => ({ ...c, param: `$${n++}` }));
    indexCtes.push(`
  del_${t.name} AS (DELETE FROM ${t.name} x USING v WHERE NOT v.ins AND x.id = v.id AND x.resource_type = v.rt),
  ins_${t.name} AS (
    INSERT INTO ${t.name} (id, resource_type, ${cols.map((c) => c.name).join(', ')})
    SELECT v.id, v.rt, ${cols.map((c) => `r.${c.name}`).join(', ')}
      FROM unnest(${src}::int[], ${cols.map((c) => `${c.param}::${c.sqlType}[]`).join(', ')}) AS r(ord, ${cols.map((c) => c.name).join(', ')})
      JOIN v ON v.ord = r.ord
  ),`);
  }
  return `WITH
  ts AS (SELECT date_trunc('milliseconds', clock_timestamp()) AS t),
  v AS (
    SELECT i.ord::int AS ord, i.rt, i.id, i.vid, i.method, i.ins, ts.t,
      CASE WHEN i.content IS NULL THEN NULL ELSE jsonb_set(i.content::jsonb, '{meta}',
        coalesce(i.content::jsonb -> 'meta', '{}'::jsonb)
        || jsonb_build_object('versionId', i.vid::text, 'lastUpdated', ${INSTANT_SQL('ts.t')})) END AS body
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bool[])
           WITH ORDINALITY AS i(rt, id, vid, method, content, ins, ord), ts
  ),
  ins_resource AS (
    INSERT INTO resource (id, resource_type, version_id, last_updated, deleted, content)
    SELECT id, rt, vid, t, body IS NULL, body FROM v WHERE ins
  ),
  upd_resource AS (
    UPDATE resource r SET version_id = v.vid, last_updated = v.t, deleted = v.body IS NULL, content = v.body
      FROM v WHERE NOT v.ins AND r.id = v.id AND r.resource_type = v.rt
  ),
  ins_history AS (
    INSERT INTO resource_history (id, resource_type, version_id, last_updated, deleted, method, content)
    SELECT id, rt, vid, t, body IS NULL, method, body FROM v
  ),
  del_link AS (DELETE FROM resource_link x USING v WHERE NOT v.ins AND x.id = v.id AND x.resource_type = v.rt),
  ins_link AS (
    INSERT INTO resource_link (id, resource_type, target_type, target_id)
    SELECT DISTINCT v.id, v.rt, l.tt, l.ti FROM unnest($7::int[], $8::text[], $9::text[]) AS l(ord, tt, ti) JOIN v ON v.ord = l.ord
  ),${indexCtes.join('')}
  done AS (SELECT 1)
  SELECT ord, ${INSTANT_SQL('t')} AS last_updated, body::text AS content FROM v ORDER BY ord`;
}

let sql: string | undefined;

export function versionWritesStatement(writes: VersionWrite[]): Statement {
  sql ??= buildSql();
  const values: unknown[] = [
    writes.map((w) => w.resourceType),
    writes.map((w) => w.id),
    writes.map((w) => w.versionId),
    writes.map((w) => w.method),
    writes.map((w) => w.content ?? null),
    writes.map((w) => w.insert),
  ];
  const linkOrd: number[] = [];
  const linkType: string[] = [];
  const linkId: string[] = [];
  writes.forEach((w, i) => {
    for (const l of w.links) {
      if (l.targetType === w.resourceType && l.targetId === w.id) continue;
      linkOrd.push(i + 1);
      linkType.push(l.targetType);
      linkId.push(l.targetId);
    }
  });
  values.push(linkOrd, linkType, linkId);
  for (const t of INDEX_TABLES) {
    const ord: number[] = [];
    const cols: unknown[][] = t.columns.map(() => []);
    writes.forEach((w, i) => {
      for (const row of w.index[t.name] ?? []) {
        ord.push(i + 1);
        row.forEach((v, c) => cols[c].push(v));
      }
    });
    values.push(ord, ...cols);
  }
  return { text: sql, values };
}
