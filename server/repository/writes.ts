/**
 * The SQL of resource writes, set-based: one statement writes any number of versions everywhere they live — the
 * current row (the version it replaces moves to resource_superseded; migration 20261127001000: the current body is
 * stored once), the extracted search values and the reference links — as multi-row operations
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
import type { IndexRows } from '../fhir/search/extract';

export const INSTANT_SQL = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** An index table: besides (id, resource_type) every row has these columns, in this order. */
export interface IndexTable {
  name: string;
  columns: { name: string; sqlType: string }[];
}

const col = (name: string, sqlType: string) => ({ name, sqlType });

/** The columns of a composite's second or third component (any type but the first, a token; extract.ts). */
function compositeComponentColumns(n: 2 | 3): IndexTable['columns'] {
  return [
    col(`c${n}_system`, 'text'),
    col(`c${n}_code`, 'text'),
    col(`c${n}_low`, 'numeric'),
    col(`c${n}_high`, 'numeric'),
    col(`c${n}_dlow`, 'timestamptz'),
    col(`c${n}_dhigh`, 'timestamptz'),
    col(`c${n}_text`, 'text'),
  ];
}

/**
 * The search index tables (migrations 20261127000100, 20261127000300 and 20261127000910: smin/smax of
 * search_reference, c3_* of search_composite; rows from fhir/search/extract.ts).
 */
export const INDEX_TABLES: IndexTable[] = [
  { name: 'search_token', columns: [col('param', 'text'), col('system', 'text'), col('code', 'text')] },
  // Location.position (`near`): WGS84 degrees (migration 20261127000980)
  { name: 'search_geo', columns: [col('param', 'text'), col('lat', 'float8'), col('lng', 'float8')] },
  {
    name: 'search_string',
    columns: [col('param', 'text'), col('value', 'text'), col('exact', 'text'), col('smin', 'bool'), col('smax', 'bool')],
  },
  {
    name: 'search_date',
    columns: [col('param', 'text'), col('low', 'timestamptz'), col('high', 'timestamptz'), col('smin', 'bool'), col('smax', 'bool')],
  },
  {
    name: 'search_number',
    columns: [col('param', 'text'), col('low', 'numeric'), col('high', 'numeric'), col('smin', 'bool'), col('smax', 'bool')],
  },
  {
    name: 'search_quantity',
    columns: [
      col('param', 'text'),
      col('system', 'text'),
      col('code', 'text'),
      col('low', 'numeric'),
      col('high', 'numeric'),
      col('canon_unit', 'text'),
      col('canon_low', 'numeric'),
      col('canon_high', 'numeric'),
      col('smin', 'bool'),
      col('smax', 'bool'),
    ],
  },
  { name: 'search_uri', columns: [col('param', 'text'), col('value', 'text')] },
  {
    name: 'search_reference',
    columns: [
      col('param', 'text'),
      col('target_type', 'text'),
      col('target_id', 'text'),
      col('url', 'text'),
      col('smin', 'bool'),
      col('smax', 'bool'),
    ],
  },
  {
    name: 'search_composite',
    columns: [
      col('param', 'text'),
      col('c1_system', 'text'),
      col('c1_code', 'text'),
      ...compositeComponentColumns(2),
      ...compositeComponentColumns(3),
    ],
  },
  { name: 'search_text', columns: [col('param', 'text'), col('tsv', 'tsvector')] },
  {
    name: 'search_code_date',
    columns: [col('param', 'text'), col('system', 'text'), col('code', 'text'), col('low', 'timestamptz'), col('high', 'timestamptz')],
  },
];

export interface VersionWrite {
  resourceType: string;
  id: string;
  versionId: number;
  method: WriteMethod;
  /** Resource JSON text without server meta (set here); undefined for a deletion. */
  content?: string;
  index: IndexRows;
  /**
   * Index rows of the resources in `contained`, each under its own resource_type (fhir/search/extract.ts
   * containedKey: `<ContainedType>#<ContainerType>#<localId>`) and the container's id; absent: none.
   */
  contained?: { key: string; index: IndexRows }[];
  links: LocalReference[];
  /** true: no row exists yet for (id, type); false: the row exists (update, re-create after delete, delete). */
  insert: boolean;
  /**
   * Unique identifiers (fhir/registries.ts) a group-committed create claims in its own statement; absent: none. A
   * write planned in a transaction claims them there instead (bundle-plan.ts step 7b), never here.
   */
  claims?: { system: string; value: string }[];
}

/** SQLSTATE of a write statement refused because an identifier it claims is taken (migration 20261205000900). */
export const CLAIM_TAKEN = 'AR409';

/** A written version as the database stored it. */
export interface WrittenVersion {
  lastUpdated: string;
  content: string | null;
}

interface Statement {
  /**
   * Prepared-statement name, one per statement shape: each connection parses a shape once and PostgreSQL reuses
   * its plan, because planning this many-CTE statement costs more than executing a one-resource write.
   */
  name: string;
  text: string;
  values: unknown[];
}

/**
 * What a batch of writes needs: updates/deletes of existing rows (else only inserts), links, and which index
 * tables get rows. Only the CTEs a shape needs are in its statement: empty CTEs still cost planning and execution.
 */
interface Shape {
  updates: boolean;
  links: boolean;
  tables: IndexTable[];
  /** Tables with rows of contained resources in this batch: their rows carry their own resource_type. */
  keyed: IndexTable[];
  /** String values to add to search_string_dict (those not known to be there already). */
  dict: boolean;
  /** Every version also gets its event_outbox row (DESIGN.md §4: the outbox) from this statement. */
  outbox: boolean;
  /** Claims of unique identifiers (VersionWrite.claims): all taken, or the statement fails with CLAIM_TAKEN. */
  claims: boolean;
}

/**
 * String values known to be in search_string_dict (values are never removed from it), so that writes need not
 * send them again: learnt from autocommit writes that committed, per database (one instance per Repository).
 * Bounded: past `max` values the oldest are forgotten (and merely sent again).
 */
export class KnownDictionaryValues {
  private readonly values = new Set<string>();
  constructor(private readonly max = 50_000) {}

  has(v: string): boolean {
    return this.values.has(v);
  }

  addAll(vs: string[]): void {
    for (const v of vs) this.values.add(v);
    if (this.values.size <= this.max) return;
    let excess = this.values.size - this.max + Math.floor(this.max / 10);
    for (const v of this.values) {
      if (excess-- <= 0) break;
      this.values.delete(v);
    }
  }
}

/**
 * The CTE adding new string values to search_string_dict, whose trigrams serve `:contains` (migration
 * 20261127000900); `valueArray` is the text[] parameter of the rows' folded values. Sorted, so that two statements
 * adding the same new values wait for each other in one order and never deadlock.
 */
export function stringDictionaryCte(valueArray: string): string {
  return `
  ins_string_dict AS (
    INSERT INTO search_string_dict (value)
    SELECT DISTINCT d.value FROM unnest(${valueArray}::text[]) AS d(value) ORDER BY 1
    ON CONFLICT DO NOTHING
  ),`;
}

/**
 * The index rows' CTEs of a write statement, parameters from `$${first}` on: with `shape.updates`, the deletion of
 * the old rows of the resources not inserted (`NOT v.ins`) — every table's, not only of the tables this batch has
 * rows for, and those of the resources contained in the old version (resource_type
 * `<ContainedType>#<ContainerType>#<localId>`, id the container's), all found through the owner index by id — then
 * the insertion of the new rows. `n`: the next parameter number.
 */
function indexRowCtes(shape: Omit<Shape, 'links'>, first: number): { ctes: string[]; n: number } {
  let n = first;
  const ctes: string[] = [];
  if (shape.updates) {
    for (const t of INDEX_TABLES) {
      ctes.push(`
  del_${t.name} AS (DELETE FROM ${t.name} x USING v
    WHERE NOT v.ins AND x.id = v.id AND (x.resource_type = v.rt OR split_part(x.resource_type, '#', 2) = v.rt)),`);
    }
  }
  for (const t of shape.tables) {
    const src = `$${n++}`;
    const cols = t.columns.map((c) => ({ ...c, param: `$${n++}` }));
    // rows of contained resources: their own resource_type (null for the container's rows)
    const key = shape.keyed.includes(t) ? `$${n++}` : undefined;
    ctes.push(`
  ins_${t.name} AS (
    INSERT INTO ${t.name} (id, resource_type, ${cols.map((c) => c.name).join(', ')})
    SELECT v.id, ${key ? 'coalesce(r.owner_key, v.rt)' : 'v.rt'}, ${cols.map((c) => `r.${c.name}`).join(', ')}
      FROM unnest(${src}::int[], ${cols.map((c) => `${c.param}::${c.sqlType}[]`).join(', ')}${key ? `, ${key}::text[]` : ''})
           AS r(ord, ${cols.map((c) => c.name).join(', ')}${key ? ', owner_key' : ''})
      JOIN v ON v.ord = r.ord
  ),`);
  }
  return { ctes, n };
}

function buildSql(shape: Shape): string {
  // $1..$6: the versions; then the links (source index, target type, target id) when present; then per index
  // table with rows: the source index array followed by one array per column (and the contained rows' keys);
  // then the new search_string_dict values when there are any; last, the return-content flag.
  let n = 7;
  const ctes: string[] = [];
  if (shape.updates) {
    // The version being replaced moves to resource_superseded: every sub-statement reads the snapshot taken before
    // the statement, so this SELECT sees the row as it was before upd_resource changes it.
    ctes.push(`
  ins_superseded AS (
    INSERT INTO resource_superseded (id, resource_type, version_id, last_updated, deleted, method, content)
    SELECT r.id, r.resource_type, r.version_id, r.last_updated, r.deleted, r.method, r.content
      FROM resource r JOIN v ON r.id = v.id AND r.resource_type = v.rt WHERE NOT v.ins
  ),
  upd_resource AS (
    UPDATE resource r SET version_id = v.vid, last_updated = v.t, deleted = v.body IS NULL, method = v.method, content = v.body
      FROM v WHERE NOT v.ins AND r.id = v.id AND r.resource_type = v.rt
  ),
  del_link AS (DELETE FROM resource_link x USING v WHERE NOT v.ins AND x.id = v.id AND x.resource_type = v.rt),`);
  }
  if (shape.links) {
    const [o, tt, ti] = [n++, n++, n++];
    ctes.push(`
  ins_link AS (
    INSERT INTO resource_link (id, resource_type, target_type, target_id)
    SELECT DISTINCT v.id, v.rt, l.tt, l.ti FROM unnest($${o}::int[], $${tt}::text[], $${ti}::text[]) AS l(ord, tt, ti) JOIN v ON v.ord = l.ord
  ),`);
  }
  const rows = indexRowCtes(shape, n);
  ctes.push(...rows.ctes);
  n = rows.n;
  if (shape.dict) ctes.push(stringDictionaryCte(`$${n++}`));
  let claimed = '';
  if (shape.claims) {
    // ON CONFLICT DO NOTHING waits for a concurrent writer of the same identifier, then skips it if that one
    // committed; the final SELECT's arogya_claims_taken fails the statement when a claim was not taken.
    const [system, value, type, id, asked] = [n++, n++, n++, n++, n++];
    ctes.push(`
  ins_claim AS (
    INSERT INTO business_claim (system, value, resource_type, resource_id)
    SELECT * FROM unnest($${system}::text[], $${value}::text[], $${type}::text[], $${id}::text[]) ON CONFLICT (value, system) DO NOTHING
    RETURNING 1
  ),`);
    claimed = ` WHERE arogya_claims_taken((SELECT count(*) FROM ins_claim), $${asked}::int)`;
  }
  if (shape.outbox) {
    // one row per version, in the versions' order (the outbox id is the order events are handed on in)
    const [actor, request] = [n++, n++];
    ctes.push(`
  ins_outbox AS (
    INSERT INTO event_outbox (resource_type, resource_id, version_id, interaction, actor, request_id)
    SELECT v.rt, v.id, v.vid, CASE WHEN v.body IS NULL THEN 'delete' WHEN v.vid = 1 THEN 'create' ELSE 'update' END, o.actor::jsonb, o.request
      FROM v JOIN unnest($${actor}::text[], $${request}::text[]) WITH ORDINALITY AS o(actor, request, ord) ON o.ord = v.ord
     ORDER BY v.ord
  ),`);
  }
  return `WITH
  ts AS (SELECT date_trunc('milliseconds', clock_timestamp()) AS t),
  v AS (
    SELECT i.ord::int AS ord, i.rt, i.id, i.vid, i.method, i.ins, ts.t,
      CASE WHEN c.j IS NULL THEN NULL ELSE jsonb_set(c.j, '{meta}',
        coalesce(c.j -> 'meta', '{}'::jsonb)
        || jsonb_build_object('versionId', i.vid::text, 'lastUpdated', ${INSTANT_SQL('ts.t')})) END AS body
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $6::bool[]) WITH ORDINALITY AS i(rt, id, vid, method, ins, ord)
      -- the bodies come as ONE JSON array (its elements the bodies' own text, no escaping), parsed once; a deletion's
      -- element is null
      JOIN (SELECT NULLIF(b.j, 'null'::jsonb) AS j, b.ord FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY AS b(j, ord)) c
        ON c.ord = i.ord
      CROSS JOIN ts
  ),
  ins_resource AS (
    INSERT INTO resource (id, resource_type, version_id, last_updated, deleted, method, content)
    SELECT id, rt, vid, t, body IS NULL, method, body FROM v WHERE ins
  ),${ctes.join('')}
  done AS (SELECT 1)
  SELECT ord, ${INSTANT_SQL('t')} AS last_updated, CASE WHEN $${n}::bool THEN body::text END AS content FROM v${claimed} ORDER BY ord`;
}

const statements = new Map<string, { name: string; text: string }>();

/** A statement's cache key and name part: which parts and index tables it has. */
function shapeKey(shape: Shape): string {
  const keyed = shape.keyed.length ? `-k${shape.keyed.map((t) => INDEX_TABLES.indexOf(t)).join('.')}` : '';
  return `${shape.updates ? 'u' : 'i'}${shape.links ? 'l' : ''}${shape.dict ? 'd' : ''}${shape.outbox ? 'o' : ''}${shape.claims ? 'c' : ''}-${shape.tables.map((t) => INDEX_TABLES.indexOf(t)).join('.')}${keyed}`;
}

function statementFor(shape: Shape): { name: string; text: string } {
  const key = shapeKey(shape);
  let s = statements.get(key);
  if (!s) {
    s = { name: `arogya_write_${key}`, text: buildSql(shape) };
    statements.set(key, s);
  }
  return s;
}

/** The event_outbox rows of a statement's versions (one per version, in order): who wrote each, in which request. */
export interface OutboxRows {
  /** The actor as the outbox stores it (JSON text). */
  actors: string[];
  requestIds: (string | null)[];
}

/**
 * `returnContent: false` (bundles answering return=minimal) spares the database serialising every body back.
 * `known`: string values already in search_string_dict, left out of the statement; `dictValues` of the result are
 * those it adds (for the caller to remember once they are committed). `outbox`: the versions' event_outbox rows,
 * written by the same statement (no round trip of their own).
 */
export function versionWritesStatement(
  writes: VersionWrite[],
  returnContent = true,
  known?: KnownDictionaryValues,
  outbox?: OutboxRows,
): Statement & { dictValues: string[] } {
  const values: unknown[] = [
    writes.map((w) => w.resourceType),
    writes.map((w) => w.id),
    writes.map((w) => w.versionId),
    writes.map((w) => w.method),
    { json: `[${writes.map((w) => w.content ?? 'null').join(',')}]` },
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
  if (linkOrd.length) values.push(linkOrd, linkType, linkId);
  const { tables, keyed, dictValues } = pushIndexRowValues(writes, values, known);
  if (dictValues.length) values.push(dictValues);
  const claims = writes.flatMap((w) => (w.claims ?? []).map((c) => ({ ...c, type: w.resourceType, id: w.id })));
  if (claims.length) {
    // in a stable order (value, system), so two statements claiming the same identifiers cannot deadlock
    claims.sort((a, b) => (a.value === b.value ? (a.system < b.system ? -1 : 1) : a.value < b.value ? -1 : 1));
    values.push(
      claims.map((c) => c.system),
      claims.map((c) => c.value),
      claims.map((c) => c.type),
      claims.map((c) => c.id),
      claims.length,
    );
  }
  if (outbox) values.push(outbox.actors, outbox.requestIds);
  values.push(returnContent);
  const shape = {
    updates: writes.some((w) => !w.insert),
    links: linkOrd.length > 0,
    tables,
    keyed,
    dict: dictValues.length > 0,
    outbox: outbox !== undefined,
    claims: claims.length > 0,
  };
  const { name, text } = statementFor(shape);
  return { name, text, values: values.map(parameterText), dictValues };
}

/** A statement parameter as sent: arrays as array literals, `{ json }` as its text. */
function parameterText(v: unknown): unknown {
  if (Array.isArray(v)) return arrayLiteral(v);
  if (v !== null && typeof v === 'object' && 'json' in v) return (v as { json: string }).json;
  return v;
}

/**
 * Rebuilds the index rows of resources in one statement (repository/search/rebuild.ts): every index table's rows of
 * each resource and of its contained resources are deleted, and the given rows inserted — what a write of the same
 * content would leave. The caller holds the resources' rows (FOR SHARE) for the transaction.
 */
export function rebuildIndexStatement(writes: (IndexedWrite & { resourceType: string; id: string })[]): Statement & { dictValues: string[] } {
  const values: unknown[] = [writes.map((w) => w.resourceType), writes.map((w) => w.id)];
  const { tables, keyed, dictValues } = pushIndexRowValues(writes, values);
  if (dictValues.length) values.push(dictValues);
  const shape = { updates: true, links: false, tables, keyed, dict: dictValues.length > 0, outbox: false, claims: false };
  const key = `rebuild-${shapeKey(shape)}`;
  let s = statements.get(key);
  if (!s) {
    const { ctes, n } = indexRowCtes(shape, 3);
    s = {
      name: `arogya_${key}`,
      text: `WITH
  v AS (SELECT i.ord::int AS ord, i.rt, i.id, false AS ins FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i(rt, id, ord)),${ctes.join('')}${shape.dict ? stringDictionaryCte(`$${n}`) : ''}
  done AS (SELECT 1)
  SELECT count(*)::int AS resources FROM v`,
    };
    statements.set(key, s);
  }
  return { name: s.name, text: s.text, values: values.map((v) => (Array.isArray(v) ? arrayLiteral(v) : v)), dictValues };
}

/** The rows' part of a statement's parameters: per index table with rows, its arrays (writes.ts buildSql). */
type IndexedWrite = Pick<VersionWrite, 'index' | 'contained'>;

function pushIndexRowValues(
  writes: IndexedWrite[],
  values: unknown[],
  known?: KnownDictionaryValues,
): { tables: IndexTable[]; keyed: IndexTable[]; dictValues: string[] } {
  const tables: IndexTable[] = [];
  const keyed: IndexTable[] = [];
  for (const t of INDEX_TABLES) {
    const ord: number[] = [];
    const cols: unknown[][] = t.columns.map(() => []);
    const keys: (string | null)[] = [];
    writes.forEach((w, i) => {
      for (const row of w.index[t.name] ?? []) {
        ord.push(i + 1);
        keys.push(null);
        row.forEach((v, c) => {
          cols[c].push(v);
        });
      }
      for (const c of w.contained ?? []) {
        for (const row of c.index[t.name] ?? []) {
          ord.push(i + 1);
          keys.push(c.key);
          row.forEach((v, k) => {
            cols[k].push(v);
          });
        }
      }
    });
    if (!ord.length) continue;
    tables.push(t);
    values.push(ord, ...cols);
    if (keys.some((k) => k !== null)) {
      keyed.push(t);
      values.push(keys);
    }
  }
  const dictValues: string[] = [];
  const stringTable = tables.findIndex((t) => t.name === 'search_string');
  if (stringTable >= 0) {
    const seen = new Set<string>();
    for (const w of writes) {
      const rows = [...(w.index.search_string ?? []), ...(w.contained ?? []).flatMap((c) => c.index.search_string ?? [])];
      for (const row of rows) {
        const v = row[STRING_VALUE] as string;
        if (seen.has(v) || known?.has(v)) continue;
        seen.add(v);
        dictValues.push(v);
      }
    }
  }
  return { tables, keyed, dictValues };
}

const QUOTE_OR_BACKSLASH = /["\\]/;

/**
 * A PostgreSQL array literal of strings, numbers, booleans and nulls — what pg would send for a JS array, built in
 * one pass (pg escapes every element with two regular expressions; a write sends hundreds of elements).
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'boolean') out += v ? 't' : 'f';
    else {
      const text = String(v);
      out += QUOTE_OR_BACKSLASH.test(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : `"${text}"`;
    }
  }
  return `${out}}`;
}

/** Index of the folded value in a search_string row. */
const STRING_VALUE = INDEX_TABLES.find((t) => t.name === 'search_string')!.columns.findIndex((c) => c.name === 'value');
