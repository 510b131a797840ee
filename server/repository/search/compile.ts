/**
 * compileSearch: parsed criteria → SQL predicates over a `resource` alias, every value a bind parameter (nothing
 * from a request ever reaches SQL text). Each criterion is an EXISTS over one index table, correlated on
 * (id, resource_type): the planner turns it into a semi-join and, for selective criteria, drives the query from the
 * index probe on (resource_type, param, value) — e.g. an ABHA number lookup is one probe of search_token's value
 * index. Chains and `_has` nest the same predicates over another resource alias.
 *
 * Access predicates (AccessRestriction) come from the caller — later the SMART layer — and are compiled into the
 * same statement for the matches and for every alias a chain, `_has`, `_list` or include reads, so nothing is
 * ever filtered after the fact.
 */
import { r4Model } from '../../fhir/definitions';
import { CODE_DATE_PARAM } from '../../fhir/search/extract';
import { bareDigits, CANONICAL_MARK } from '../../fhir/search/normalise';
import { singleValued } from '../../fhir/search/paths';
import { registryGeneration, searchParam } from '../../fhir/search/registry';
import type { InstantRange } from '../../fhir/datetime';
import type { CompositeSecond, Criterion, DatePrefix, NearValue, NumberValue, Prefix, QuantityValue, ReferenceValue, TokenValue } from './parse';

/** What a caller may see: applied inside every statement that reads resources for a search. */
export interface AccessRestriction {
  /** Only resources of these types. */
  resourceTypes?: string[];
  /** Only resources in this compartment (CompartmentDefinition membership, e.g. Patient/123)… */
  compartment?: {
    type: string;
    id: string;
    /** …plus resources of these types, which are outside the compartment definition (e.g. Practitioner). */
    sharedTypes?: string[];
  };
}

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/** Collects bind parameters and hands out unique table aliases. */
export class SqlBuilder {
  readonly params: unknown[];
  private n = 0;
  constructor(params: unknown[] = []) {
    this.params = params;
  }
  p(v: unknown, cast?: string): string {
    this.params.push(v);
    return cast ? `$${this.params.length}::${cast}` : `$${this.params.length}`;
  }
  alias(prefix: string): string {
    return `${prefix}${++this.n}`;
  }
}

/** Upper bound of a prefix range in byte order (COLLATE "C" columns). */
const MAX_CHAR = '\u{10FFFF}';

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function ownedBy(t: string, alias: string): string {
  return `${t}.id = ${alias}.id AND ${t}.resource_type = ${alias}.resource_type`;
}

// ---------------------------------------------------------------------------------------------------------------
// Value conditions

/**
 * `col` equal to one of `values`. A single value is a plain equality: a GiST index (search_code_date) can use `=`,
 * never `= ANY(…)`, and a b-tree returns the entries of one value in its next key column's order (the id: a page
 * is then read in order, migration 20261127000970), which PostgreSQL 15 does not do for `= ANY(…)`.
 */
function equalsAny(b: SqlBuilder, col: string, values: Iterable<string>): string {
  const list = [...new Set(values)];
  return list.length === 1 ? `${col} = ${b.p(list[0], 'text')}` : `${col} = ANY(${b.p(list, 'text[]')})`;
}

/** A token match over columns `${t}.system`/`${t}.code`, values OR-ed, grouped so each group is an index probe. */
function tokenCondition(b: SqlBuilder, t: string, values: TokenValue[], sys = 'system', code = 'code'): string {
  const anySystem = new Set<string>();
  const noSystem = new Set<string>();
  const bySystem = new Map<string, Set<string>>();
  const systemsOnly = new Set<string>();
  for (const v of values) {
    if (v.code === null) {
      if (v.system) systemsOnly.add(v.system);
      continue;
    }
    if (v.system === undefined) {
      anySystem.add(v.code);
      anySystem.add(bareDigits(v.code)); // a national number matches with or without hyphens
    } else if (v.system === null) noSystem.add(v.code);
    else {
      if (!bySystem.has(v.system)) bySystem.set(v.system, new Set());
      bySystem.get(v.system)!.add(v.code);
    }
  }
  const ors: string[] = [];
  if (anySystem.size) ors.push(equalsAny(b, `${t}.${code}`, anySystem));
  if (noSystem.size) ors.push(`(${equalsAny(b, `${t}.${code}`, noSystem)} AND ${t}.${sys} IS NULL)`);
  for (const [s, codes] of bySystem) ors.push(`(${equalsAny(b, `${t}.${code}`, codes)} AND ${t}.${sys} = ${b.p(s)})`);
  if (systemsOnly.size) ors.push(equalsAny(b, `${t}.${sys}`, systemsOnly));
  return ors.length ? `(${ors.join(' OR ')})` : 'false';
}

/**
 * A stored [low, high) range against a search value's range, per the prefixes of search.html#prefix. Redundant
 * bounds keep one side of each condition an index range on low or high.
 */
export function rangeCondition(lo: string, hi: string, prefix: Prefix, low: () => string, high: () => string): string {
  switch (prefix) {
    case 'eq': {
      const L = low();
      const H = high();
      return `(${lo} >= ${L} AND ${lo} < ${H} AND ${hi} <= ${H})`;
    }
    case 'ne': {
      const L = low();
      const H = high();
      return `(${lo} < ${L} OR ${hi} > ${H})`;
    }
    case 'gt':
      return `${hi} > ${high()}`;
    case 'lt':
      return `${lo} < ${low()}`;
    case 'ge': {
      const L = low();
      const H = high();
      return `(${hi} > ${L} AND (${hi} > ${H} OR ${lo} >= ${L}))`;
    }
    case 'le': {
      const L = low();
      const H = high();
      return `(${lo} < ${H} AND (${lo} < ${L} OR ${hi} <= ${H}))`;
    }
    case 'sa':
      return `${lo} >= ${high()}`;
    case 'eb':
      return `${hi} <= ${low()}`;
    case 'ap': {
      const L = low();
      const H = high();
      return `(${lo} < ${H} AND ${hi} > ${L})`;
    }
  }
}

/** `ap`: the search range widened by 10% of its distance from now (search.html#prefix suggests 10%). */
function approximate(range: InstantRange): InstantRange {
  const now = Date.now();
  const low = Date.parse(range.low);
  const high = Date.parse(range.high);
  const widen = Math.abs(now - (low + high) / 2) * 0.1;
  return { low: new Date(low - widen).toISOString(), high: new Date(high + widen).toISOString() };
}

type DateValue = { prefix: DatePrefix; range: InstantRange };

/**
 * A window every stored [low, high] span matching the value overlaps (undefined bound: unbounded): the search
 * compiler adds the overlap test as a redundant condition that the span GiST index answers — a date range
 * (`date=ge…&date=lt…`) is two-sided, which no b-tree on low or high alone can bound.
 */
function dateWindow(v: DateValue): { low?: string; high?: string } {
  const r = v.prefix === 'ap' ? approximate(v.range) : v.range;
  switch (v.prefix) {
    case 'eq':
    case 'ap':
      return { low: r.low, high: r.high };
    case 'gt':
    case 'sa':
      return { low: r.high };
    case 'ge':
      return { low: r.low };
    case 'lt':
    case 'eb':
      return { high: r.low };
    case 'le':
      return { high: r.high };
    case 'ne':
      return {};
  }
}

/** The overlap window of AND-ed groups of OR-ed values, when bounded on both sides. */
function spanWindow(groups: DateValue[][]): { low: string; high: string } | undefined {
  let low: string | undefined;
  let high: string | undefined;
  for (const g of groups) {
    // OR: the hull of the values' windows
    const ws = g.map(dateWindow);
    const gl = ws.some((w) => w.low === undefined) ? undefined : ws.map((w) => w.low!).sort()[0];
    const gh = ws.some((w) => w.high === undefined) ? undefined : ws.map((w) => w.high!).sort().at(-1);
    // AND: the intersection
    if (gl !== undefined && (low === undefined || Date.parse(gl) > Date.parse(low))) low = gl;
    if (gh !== undefined && (high === undefined || Date.parse(gh) < Date.parse(high))) high = gh;
  }
  return low !== undefined && high !== undefined ? { low, high } : undefined;
}

/** The span of a search_date row as the GiST index `search_date_span` stores it. */
export const DATE_SPAN = (t: string): string => `tstzrange(least(${t}.low, ${t}.high), greatest(${t}.low, ${t}.high), '[]')`;

function dateCondition(b: SqlBuilder, lo: string, hi: string, v: { prefix: DatePrefix; range: InstantRange }): string {
  const r = v.prefix === 'ap' ? approximate(v.range) : v.range;
  return rangeCondition(lo, hi, v.prefix, () => b.p(r.low, 'timestamptz'), () => b.p(r.high, 'timestamptz'));
}

/** A point in time (a resource column) against a search value's range (used for _lastUpdated). */
export function instantCondition(b: SqlBuilder, column: string, v: { prefix: DatePrefix; range: InstantRange }): string {
  return dateCondition(b, column, `(${column} + interval '1 millisecond')`, v);
}

/** A stored number (point or range) against a search number: eq/ne/ap use the value's implied precision range. */
function numberCondition(b: SqlBuilder, lo: string, hi: string, v: { prefix: Prefix; value: string; low: string; high: string }): string {
  const val = () => b.p(v.value, 'numeric');
  switch (v.prefix) {
    case 'eq':
      return `(${lo} >= ${b.p(v.low, 'numeric')} AND ${hi} < ${b.p(v.high, 'numeric')})`;
    case 'ne':
      return `(${lo} < ${b.p(v.low, 'numeric')} OR ${hi} >= ${b.p(v.high, 'numeric')})`;
    case 'gt':
      return `${hi} > ${val()}`;
    case 'lt':
      return `${lo} < ${val()}`;
    case 'ge':
      return `${hi} >= ${val()}`;
    case 'le':
      return `${lo} <= ${val()}`;
    case 'sa':
      return `${lo} > ${val()}`;
    case 'eb':
      return `${hi} < ${val()}`;
    case 'ap': {
      const x = Number(v.value);
      const w = Math.abs(x) * 0.1;
      return `(${lo} <= ${b.p(String(x + w), 'numeric')} AND ${hi} >= ${b.p(String(x - w), 'numeric')})`;
    }
  }
}

function quantityCondition(b: SqlBuilder, q: string, v: QuantityValue): string {
  if (v.canonical) {
    const c = v.canonical;
    return `(${q}.canon_unit = ${b.p(c.unit)} AND ${numberCondition(b, `${q}.canon_low`, `${q}.canon_high`, { prefix: v.prefix, ...c })})`;
  }
  const conds: string[] = [];
  if (v.code !== undefined) conds.push(`${q}.code = ${b.p(v.code)}`);
  if (v.system !== undefined) conds.push(`${q}.system = ${b.p(v.system)}`);
  conds.push(numberCondition(b, `${q}.low`, `${q}.high`, v));
  return `(${conds.join(' AND ')})`;
}

function referenceCondition(b: SqlBuilder, t: string, values: ReferenceValue[]): string {
  const byType = new Map<string, string[]>();
  const anyType: string[] = [];
  const urls: string[] = [];
  for (const v of values) {
    if (v.url !== undefined) urls.push(v.url);
    else if (v.type) {
      if (!byType.has(v.type)) byType.set(v.type, []);
      byType.get(v.type)!.push(v.id!);
    } else anyType.push(v.id!);
  }
  const ors: string[] = [];
  for (const [type, ids] of byType) ors.push(`(${equalsAny(b, `${t}.target_id`, ids)} AND ${t}.target_type = ${b.p(type)})`);
  if (anyType.length) ors.push(equalsAny(b, `${t}.target_id`, anyType));
  if (urls.length) ors.push(`(${t}.url = ANY(${b.p(urls, 'text[]')}) AND ${t}.url IS NOT NULL)`);
  return `(${ors.join(' OR ')})`;
}

/** Mean Earth radius (IUGG, of the WGS84 ellipsoid), metres. */
const EARTH_RADIUS_M = 6_371_008.8;

/**
 * A search_geo row within `v.meters` of `v`: a latitude (and, away from the poles and the antimeridian, longitude)
 * window the value index can range over, then the great-circle (haversine) distance on the mean sphere — within
 * 0.5 % of the WGS84 ellipsoid's, which R4 leaves to the server ("differing accuracies").
 */
function nearCondition(b: SqlBuilder, t: string, v: NearValue): string {
  const dLat = (v.meters / EARTH_RADIUS_M) * (180 / Math.PI);
  const conds = [`${t}.lat BETWEEN ${b.p(v.lat - dLat, 'float8')} AND ${b.p(v.lat + dLat, 'float8')}`];
  const cosLat = Math.cos(((Math.abs(v.lat) + dLat) * Math.PI) / 180);
  if (Math.abs(v.lat) + dLat < 89 && cosLat > 0) {
    const dLng = dLat / cosLat;
    if (v.lng - dLng >= -180 && v.lng + dLng <= 180) conds.push(`${t}.lng BETWEEN ${b.p(v.lng - dLng, 'float8')} AND ${b.p(v.lng + dLng, 'float8')}`);
  }
  const lat = b.p(v.lat, 'float8');
  const lng = b.p(v.lng, 'float8');
  conds.push(
    `2 * ${EARTH_RADIUS_M} * asin(least(1, sqrt(power(sin(radians(${t}.lat - ${lat}) / 2), 2)
      + cos(radians(${lat})) * cos(radians(${t}.lat)) * power(sin(radians(${t}.lng - ${lng}) / 2), 2)))) <= ${b.p(v.meters, 'float8')}`,
  );
  return `(${conds.join(' AND ')})`;
}

/** A composite's second or third component (`n`) against the row's `c${n}_*` columns (extract.ts componentColumns). */
function compositeComponent(b: SqlBuilder, c: string, s: CompositeSecond, n: 2 | 3): string {
  const col = (name: string): string => `${c}.c${n}_${name}`;
  switch (s.type) {
    case 'token':
      return tokenCondition(b, c, [s.value], `c${n}_system`, `c${n}_code`);
    case 'quantity':
    case 'number': {
      const v = s.value;
      if (v.canonical) {
        return `(${col('system')} = ${b.p(CANONICAL_MARK)} AND ${col('code')} = ${b.p(v.canonical.unit)} AND ${numberCondition(b, col('low'), col('high'), { prefix: v.prefix, ...v.canonical })})`;
      }
      const conds = [`${col('system')} IS DISTINCT FROM ${b.p(CANONICAL_MARK)}`, numberCondition(b, col('low'), col('high'), v)];
      if (v.code !== undefined) conds.push(`${col('code')} = ${b.p(v.code)}`);
      if (v.system !== undefined) conds.push(`${col('system')} = ${b.p(v.system)}`);
      return `(${conds.join(' AND ')})`;
    }
    case 'date':
      return dateCondition(b, col('dlow'), col('dhigh'), s.value);
    case 'string':
      return `(${col('text')} >= ${b.p(s.value)} AND ${col('text')} < ${b.p(s.value + MAX_CHAR)})`;
    case 'reference':
      return `${col('code')} = ${b.p(s.value)}`;
  }
}

/** One composite value: every component tested on the same index row (the same element of the resource). */
function compositeValue(b: SqlBuilder, t: string, v: { first: TokenValue; second: CompositeSecond; third?: CompositeSecond }): string {
  const conds = [tokenCondition(b, t, [v.first], 'c1_system', 'c1_code'), compositeComponent(b, t, v.second, 2)];
  if (v.third) conds.push(compositeComponent(b, t, v.third, 3));
  return `(${conds.join(' AND ')})`;
}

/** `http://a/b/c` → the URLs it is below: `http://a/b/c`, `http://a/b`, `http://a` (uri :above). */
function urlPrefixes(url: string): string[] {
  const out: string[] = [];
  let u = url.replace(/\/+$/, '');
  while (u.length > 0) {
    out.push(u);
    const slash = u.lastIndexOf('/');
    if (slash <= 0 || u[slash - 1] === '/') break;
    u = u.slice(0, slash);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Compartments and access restrictions

/** Params linking each resource type to a compartment (CompartmentDefinition), e.g. Observation → subject, performer. */
export function compartmentParams(compartment: string, type: string): string[] {
  return r4Model().compartments[compartment]?.[type] ?? [];
}

/** `${alias}` is in compartment type/id (its own resource, or linked by a compartment parameter). */
export function inCompartment(b: SqlBuilder, alias: string, compartment: string, id: string, knownType?: string): string {
  const self = (): string => `(${alias}.resource_type = ${b.p(compartment)} AND ${alias}.id = ${b.p(id)})`;
  const m = b.alias('m');
  const exists = (link: string): string => `EXISTS (SELECT 1 FROM search_reference ${m} WHERE ${ownedBy(m, alias)} AND ${link}
      AND ${m}.target_type = ${b.p(compartment)} AND ${m}.target_id = ${b.p(id)})`;
  if (knownType) {
    const params = compartmentParams(compartment, knownType);
    if (params.length === 0) return knownType === compartment ? self() : 'false';
    const e = exists(`${m}.param = ANY(${b.p(params, 'text[]')})`);
    return knownType === compartment ? `(${self()} OR ${e})` : e;
  }
  const keys = Object.entries(r4Model().compartments[compartment] ?? {}).flatMap(([t, ps]) => ps.map((p) => `${t}.${p}`));
  return `(${self()} OR ${exists(`(${m}.resource_type || '.' || ${m}.param) = ANY(${b.p(keys, 'text[]')})`)})`;
}

/** The access predicate for one resource alias ('true' when unrestricted). */
export function visible(b: SqlBuilder, alias: string, restriction: AccessRestriction | undefined, knownType?: string): string {
  if (!restriction) return 'true';
  const conds: string[] = [];
  if (restriction.resourceTypes) {
    if (knownType) {
      if (!restriction.resourceTypes.includes(knownType)) return 'false';
    } else conds.push(`${alias}.resource_type = ANY(${b.p(restriction.resourceTypes, 'text[]')})`);
  }
  const c = restriction.compartment;
  if (c) {
    const shared = c.sharedTypes ?? [];
    if (knownType && shared.includes(knownType)) return conds.length ? conds.join(' AND ') : 'true';
    const member = inCompartment(b, alias, c.type, c.id, knownType);
    conds.push(shared.length && !knownType ? `(${alias}.resource_type = ANY(${b.p(shared, 'text[]')}) OR ${member})` : member);
  }
  return conds.length ? conds.join(' AND ') : 'true';
}

// ---------------------------------------------------------------------------------------------------------------
// Criteria

/** A criterion that is a condition on the rows of one index table (negated: the resource has no such row). */
export interface IndexCondition {
  table: string;
  param: string;
  cond: (t: string) => string;
  negate?: boolean;
}

/** The index-table form of a criterion, for the kinds that have one. */
export function indexCondition(b: SqlBuilder, c: Criterion): IndexCondition | undefined {
  switch (c.kind) {
    case 'missing':
      return { table: c.table, param: c.code, cond: () => 'true', negate: c.missing };
    case 'token':
      return { table: 'search_token', param: c.code, cond: (t) => tokenCondition(b, t, c.values), negate: c.not };
    case 'terminology': {
      const r = c.resolved ?? { pairs: [], systems: [] };
      const values: TokenValue[] = [...r.pairs.map((p) => ({ system: p.system, code: p.code })), ...r.systems.map((s) => ({ system: s, code: null }))];
      // no code at all: `:in` matches nothing, `:not-in` everything
      return { table: 'search_token', param: c.code, cond: (t) => (values.length ? tokenCondition(b, t, values) : 'false'), negate: c.modifier === 'not-in' };
    }
    case 'string':
      return {
        table: 'search_string',
        param: c.code,
        cond: (t) =>
          `(${c.values
            .map((v) => {
              if (c.mode === 'exact') return `(${t}.value = ${b.p(v.folded)} AND ${t}.exact = ${b.p(v.exact)})`;
              // the trigrams index the distinct values (search_string_dict), the value b-tree leads on to the rows
              if (c.mode === 'contains') {
                return `${t}.value IN (SELECT d.value FROM search_string_dict d WHERE d.value LIKE ${b.p(`%${escapeLike(v.folded)}%`)})`;
              }
              return `(${t}.value >= ${b.p(v.folded)} AND ${t}.value < ${b.p(v.folded + MAX_CHAR)})`;
            })
            .join(' OR ')})`,
      };
    case 'text': {
      // One full-text row per resource (param _content): narrative words carry weight A, so _text asks for it.
      const weight = c.code === '_text' ? ':A' : '';
      return {
        table: 'search_text',
        param: '_content',
        cond: (t) => `(${c.values.map((ws) => `${t}.tsv @@ ${b.p(ws.map((w) => `'${w}'${weight}`).join(' & '), 'tsquery')}`).join(' OR ')})`,
      };
    }
    case 'date': {
      const groups = [c.values, ...(c.also ?? [])];
      return {
        table: 'search_date',
        param: c.code,
        cond: (t) => {
          const conds = groups.map((g) => `(${g.map((v) => dateCondition(b, `${t}.low`, `${t}.high`, v)).join(' OR ')})`);
          const w = spanWindow(groups);
          if (w) conds.push(`${DATE_SPAN(t)} && tstzrange(${b.p(w.low, 'timestamptz')}, ${b.p(w.high, 'timestamptz')}, '[]')`);
          return conds.join(' AND ');
        },
      };
    }
    case 'number':
      return {
        table: 'search_number',
        param: c.code,
        cond: (t) => [c.values, ...(c.also ?? [])].map((g) => `(${g.map((v: NumberValue) => numberCondition(b, `${t}.low`, `${t}.high`, v)).join(' OR ')})`).join(' AND '),
      };
    case 'quantity':
      return {
        table: 'search_quantity',
        param: c.code,
        cond: (t) => [c.values, ...(c.also ?? [])].map((g) => `(${g.map((v) => quantityCondition(b, t, v)).join(' OR ')})`).join(' AND '),
      };
    case 'uri':
      return {
        table: 'search_uri',
        param: c.code,
        cond: (t) => {
          if (c.mode === 'exact') return equalsAny(b, `${t}.value`, c.values);
          if (c.mode === 'above') return `${t}.value = ANY(${b.p(c.values.flatMap(urlPrefixes), 'text[]')})`;
          return `(${c.values.map((v) => `(${t}.value >= ${b.p(v)} AND ${t}.value < ${b.p(v + MAX_CHAR)})`).join(' OR ')})`;
        },
      };
    case 'reference':
      return { table: 'search_reference', param: c.code, cond: (t) => referenceCondition(b, t, c.values) };
    case 'near':
      return { table: 'search_geo', param: c.code, cond: (t) => `(${c.values.map((v) => nearCondition(b, t, v)).join(' OR ')})` };
    case 'composite':
      return {
        table: 'search_composite',
        param: c.code,
        cond: (t) => `(${c.values.map((v) => compositeValue(b, t, v)).join(' OR ')})`,
      };
    default:
      return undefined;
  }
}

/**
 * A two-sided date criterion tested for candidates of another criterion: the span overlap as its own EXISTS (the
 * GiST index, estimated from the span statistics alone — estimated together with the exact bounds, which it makes
 * redundant, the planner would think it matches a hundredth of what it does and never hash it) and the exact
 * conditions as a second EXISTS, probed by owner for the few candidates that remain.
 */
function splitDateSql(b: SqlBuilder, alias: string, c: Criterion & { kind: 'date' }): string | undefined {
  const groups = [c.values, ...(c.also ?? [])];
  const w = spanWindow(groups);
  if (!w) return undefined;
  const s = b.alias('t');
  const t = b.alias('t');
  const param = b.p(c.code);
  return `EXISTS (SELECT 1 FROM search_date ${s} WHERE ${ownedBy(s, alias)} AND ${s}.param = ${param}
      AND ${DATE_SPAN(s)} && tstzrange(${b.p(w.low, 'timestamptz')}, ${b.p(w.high, 'timestamptz')}, '[]'))
    AND EXISTS (SELECT 1 FROM search_date ${t} WHERE ${ownedBy(t, alias)} AND ${t}.param = ${param}
      AND ${groups.map((g) => `(${g.map((v) => dateCondition(b, `${t}.low`, `${t}.high`, v)).join(' OR ')})`).join(' AND ')})`;
}

/** Whether a criterion reads columns of the resource row itself (not only its id and type). */
function usesResourceColumns(c: Criterion): boolean {
  return c.kind === 'lastUpdated';
}

/** A contained resource's `_id` is its local id: the code of its `_id` token row (contained.ts). */
export function containedCriterion(c: Criterion): Criterion {
  return c.kind === 'id' ? { kind: 'token', code: '_id', values: c.ids.map((id) => ({ system: null, code: id })) } : c;
}

/**
 * A chain's link into contained resources (search.html#contained): a reference `#localId` is a search_reference
 * row with target_type = the contained resource's type, no target_id and url = '#localId' (fhir/search/extract.ts
 * referenceValues). `from` gives, for such rows `ref`, the contained resource's rows' owner key as `k` (id = the
 * container's, resource_type = '<Type>#<ContainerType>#<localId>'), for the chained criterion to be matched on
 * its own rows. The container is the resource owning `ref` — or, when `ref` belongs to a contained resource
 * itself (a chain on from one), that resource's container. The access restriction is the container's: already
 * applied to it. Undefined when the criterion needs a resource row (`_lastUpdated`: a contained resource has none).
 */
function containedChain(b: SqlBuilder, ref: string, code: string, type: string, criterion: Criterion, restriction: AccessRestriction | undefined): { from: string; where: string } | undefined {
  const inner = containedCriterion(criterion);
  if (usesResourceColumns(inner)) return undefined;
  const k = b.alias('k');
  const container = `CASE WHEN strpos(${ref}.resource_type, '#') > 0 THEN split_part(${ref}.resource_type, '#', 2) ELSE ${ref}.resource_type END`;
  return {
    from: `search_reference ${ref} CROSS JOIN LATERAL (SELECT ${ref}.id AS id, ${ref}.target_type || '#' || ${container} || '#' || substr(${ref}.url, 2) AS resource_type) ${k}`,
    where: `${ref}.param = ${b.p(code)} AND ${ref}.target_id IS NULL AND ${ref}.target_type = ${b.p(type)} AND starts_with(${ref}.url, '#')
              AND ${criterionSql(b, k, inner, restriction, type)}`,
  };
}

/** One criterion as a predicate over `alias` (resources of `knownType`, when a single type). */
export function criterionSql(b: SqlBuilder, alias: string, c: Criterion, restriction?: AccessRestriction, knownType?: string, split = false): string {
  if (split && c.kind === 'date') {
    const sql = splitDateSql(b, alias, c);
    if (sql) return sql;
  }
  const ic = indexCondition(b, c);
  if (ic) {
    const t = b.alias('t');
    const e = `EXISTS (SELECT 1 FROM ${ic.table} ${t} WHERE ${ownedBy(t, alias)} AND ${t}.param = ${b.p(ic.param)} AND ${ic.cond(t)})`;
    return ic.negate ? `NOT ${e}` : e;
  }
  switch (c.kind) {
    case 'id':
      return `${alias}.id = ANY(${b.p(c.ids, 'text[]')})`;
    case 'lastUpdated':
      return `(${c.values.map((v) => instantCondition(b, `${alias}.last_updated`, v)).join(' OR ')})`;
    case 'chain': {
      const ors = c.targets.flatMap(({ type, criterion }) => {
        const ref = b.alias('c');
        const r2 = b.alias('r');
        const out = [
          `EXISTS (SELECT 1 FROM search_reference ${ref} JOIN resource ${r2} ON ${r2}.id = ${ref}.target_id AND ${r2}.resource_type = ${ref}.target_type
            WHERE ${ownedBy(ref, alias)} AND ${ref}.param = ${b.p(c.code)} AND ${ref}.target_type = ${b.p(type)}
              AND NOT ${r2}.deleted AND ${criterionSql(b, r2, criterion, restriction, type)} AND ${visible(b, r2, restriction, type)})`,
        ];
        const cref = b.alias('c');
        const inContained = containedChain(b, cref, c.code, type, criterion, restriction);
        if (inContained) out.push(`EXISTS (SELECT 1 FROM ${inContained.from} WHERE ${ownedBy(cref, alias)} AND ${inContained.where})`);
        return out;
      });
      return ors.length === 1 ? ors[0] : `(${ors.join(' OR ')})`;
    }
    case 'has': {
      const ref = b.alias('h');
      if (!usesResourceColumns(c.criterion)) {
        // The referring resource's reference rows stand for it: they exist only while it is live and carry its
        // (id, resource_type), all the inner criterion and the restriction look at.
        const v = visible(b, ref, restriction, c.type);
        return `EXISTS (SELECT 1 FROM search_reference ${ref}
          WHERE ${ref}.resource_type = ${b.p(c.type)} AND ${ref}.param = ${b.p(c.code)}
            AND ${ref}.target_id = ${alias}.id AND ${ref}.target_type = ${alias}.resource_type
            AND ${criterionSql(b, ref, c.criterion, restriction, c.type)}${v === 'true' ? '' : ` AND ${v}`})`;
      }
      const r2 = b.alias('r');
      return `EXISTS (SELECT 1 FROM search_reference ${ref} JOIN resource ${r2} ON ${r2}.id = ${ref}.id AND ${r2}.resource_type = ${ref}.resource_type
          WHERE ${ref}.resource_type = ${b.p(c.type)} AND ${ref}.param = ${b.p(c.code)}
            AND ${ref}.target_id = ${alias}.id AND ${ref}.target_type = ${alias}.resource_type
            AND NOT ${r2}.deleted AND ${criterionSql(b, r2, c.criterion, restriction, c.type)} AND ${visible(b, r2, restriction, c.type)})`;
    }
    case 'list': {
      const l = b.alias('l');
      const lr = b.alias('r');
      return `EXISTS (SELECT 1 FROM search_reference ${l} JOIN resource ${lr} ON ${lr}.id = ${l}.id AND ${lr}.resource_type = ${l}.resource_type
          WHERE ${l}.resource_type = 'List' AND ${l}.id = ANY(${b.p(c.ids, 'text[]')}) AND ${l}.param = 'item'
            AND ${l}.target_id = ${alias}.id AND ${l}.target_type = ${alias}.resource_type
            AND NOT ${lr}.deleted AND ${visible(b, lr, restriction, 'List')})`;
    }
    case 'compartment':
      return inCompartment(b, alias, c.type, c.id, knownType);
    default:
      throw new Error(`criterion kind ${c.kind} has no SQL`);
  }
}

const single = new Map<string, boolean>();
let singleGeneration = -1;

/** Whether a parameter of a type has at most one value per resource (paths.ts singleValued), cached. */
function singleValuedParam(type: string, code: string): boolean {
  if (singleGeneration !== registryGeneration()) {
    single.clear();
    singleGeneration = registryGeneration();
  }
  const key = `${type}.${code}`;
  let v = single.get(key);
  if (v === undefined) {
    const p = searchParam(type, code);
    v = !!p && p.expression !== '' && singleValued(p.expression, type);
    single.set(key, v);
  }
  return v;
}

/**
 * Repeated date, number or quantity criteria of one single-valued parameter (`date=ge2024-01-01&date=lt2024-02-01`)
 * become one criterion whose groups are tested on the same index row — the same result, since the resource has
 * one value, and an index range on both bounds instead of two half-open scans. For a parameter with several values
 * per resource each criterion stays separate (each may be met by a different value).
 */
export function mergeRanges(criteria: Criterion[], knownType: string | undefined): Criterion[] {
  if (!knownType) return criteria;
  const out: Criterion[] = [];
  const first = new Map<string, Criterion & { kind: 'date' | 'number' | 'quantity' }>();
  for (const c of criteria) {
    if ((c.kind === 'date' || c.kind === 'number' || c.kind === 'quantity') && singleValuedParam(knownType, c.code)) {
      const key = `${c.kind}\u0000${c.code}`;
      const f = first.get(key);
      if (f) {
        (f.also ??= [] as never[]).push(c.values as never);
        continue;
      }
      const copy = { ...c, also: undefined };
      first.set(key, copy);
      out.push(copy);
      continue;
    }
    out.push(c);
  }
  return out;
}

/** The base predicate of a search over `alias`: its types, not deleted, every criterion, and the restriction. */
export function searchPredicate(b: SqlBuilder, alias: string, types: string[] | undefined, criteria: Criterion[], restriction?: AccessRestriction): string {
  const knownType = types?.length === 1 ? types[0] : undefined;
  const where: string[] = [];
  if (knownType) where.push(`${alias}.resource_type = ${b.p(knownType)}`);
  else if (types) where.push(`${alias}.resource_type = ANY(${b.p(types, 'text[]')})`);
  where.push(`NOT ${alias}.deleted`);
  const merged = mergeRanges(criteria, knownType);
  for (const c of merged) where.push(criterionSql(b, alias, c, restriction, knownType, merged.length > 1));
  const v = visible(b, alias, restriction, knownType);
  if (v !== 'true') where.push(v);
  return where.join('\n  AND ');
}

/**
 * The rows a search without `_sort` is driven from: the index rows of one of its criteria (`d`, one or more per
 * matching resource), with every other criterion and the access restriction as predicates on `d.id`. Index rows
 * exist only for the current version of live resources (writes.ts replaces them, a deletion removes them), so the
 * page's ids come from the index alone — `GROUP BY d.id ORDER BY d.id LIMIT n` — and only the page's resources are
 * read from the resource table. A broad criterion (a common name prefix) thus costs one index entry per match, not
 * a resource lookup per match. The driving criterion is the likeliest to be selective; the planner may still start
 * from another criterion's index and probe the driver's rows by owner.
 *
 * Undefined (use the resource-table form) for system searches, criteria on resource columns (`_lastUpdated`), and
 * searches with no positive index-table criterion.
 */
export interface DrivenSearch {
  type: string;
  /** `FROM` clause; the driving rows are aliased `d` (d.id: the resource id) */
  from: string;
  where: string;
  params: unknown[];
  /**
   * Driven by a string criterion (a name prefix): the page is ordered by the matched value `d.value`, then id,
   * so that it is the first entries of the value index however many match. A resource stands once, at its first
   * matching value: `first` holds for the rows of that value only (no row of the same resource and parameter that
   * matches has a lower value); the page groups them by (value, id).
   */
  byValue?: { first: string };
}

export function driverRank(c: Criterion): number | undefined {
  switch (c.kind) {
    case 'token':
      if (c.not) return undefined;
      return c.values.every((v) => v.system !== undefined && v.code !== null) ? 0 : 3;
    case 'reference':
      return 0;
    case 'chain':
      return c.targets.length === 1 ? 1 : undefined;
    case 'has':
      return usesResourceColumns(c.criterion) ? undefined : 1;
    case 'date':
    case 'string':
    case 'uri':
    case 'near':
      return 2;
    case 'quantity':
    case 'number':
    case 'composite':
    case 'text':
      return 3;
    case 'terminology':
      return c.modifier === 'not-in' ? undefined : 3;
    default:
      return undefined;
  }
}

/**
 * A `code` token criterion and a two-sided `date` criterion of one search, answerable together from
 * search_code_date (migration 20261127000920): the token criterion plain (no `:not`, every value with a code), the
 * type having both parameters (only then are there rows). The date's conditions are tested on the same row, which
 * is exact when `date` is single-valued; otherwise the date criterion is also tested on its own.
 */
function codeDatePair(type: string, merged: Criterion[]): { token: number; date: number; exactDate: boolean } | undefined {
  const token = merged.findIndex((c) => c.kind === 'token' && c.code === 'code' && !c.not && c.values.every((v) => v.code !== null));
  const date = merged.findIndex((c) => c.kind === 'date' && c.code === 'date' && spanWindow([c.values, ...(c.also ?? [])]) !== undefined);
  if (token < 0 || date < 0) return undefined;
  if (searchParam(type, 'code')?.type !== 'token' || searchParam(type, 'date')?.type !== 'date') return undefined;
  return { token, date, exactDate: singleValuedParam(type, 'date') };
}

export function drivenSearch(type: string, criteria: Criterion[], restriction?: AccessRestriction): DrivenSearch | undefined {
  const merged = mergeRanges(criteria, type);
  if (merged.some((c) => c.kind === 'lastUpdated')) return undefined;
  const pair = codeDatePair(type, merged);
  if (pair) {
    const b = new SqlBuilder();
    const token = merged[pair.token] as Criterion & { kind: 'token' };
    const date = merged[pair.date] as Criterion & { kind: 'date' };
    const groups = [date.values, ...(date.also ?? [])];
    const w = spanWindow(groups)!;
    const where: string[] = [
      `d.resource_type = ${b.p(type)}`,
      `d.param = ${b.p(CODE_DATE_PARAM)}`,
      tokenCondition(b, 'd', token.values),
      `${DATE_SPAN('d')} && tstzrange(${b.p(w.low, 'timestamptz')}, ${b.p(w.high, 'timestamptz')}, '[]')`,
      ...groups.map((g) => `(${g.map((v) => dateCondition(b, 'd.low', 'd.high', v)).join(' OR ')})`),
    ];
    merged.forEach((c, i) => {
      if (i === pair.token || (i === pair.date && pair.exactDate)) return;
      where.push(criterionSql(b, 'd', c, restriction, type, true));
    });
    const v = visible(b, 'd', restriction, type);
    if (v !== 'true') where.push(v);
    return { type, from: 'search_code_date d', where: where.join('\n      AND '), params: b.params };
  }
  let best: number | undefined;
  merged.forEach((c, i) => {
    const r = driverRank(c);
    if (r !== undefined && (best === undefined || r < driverRank(merged[best])!)) best = i;
  });
  if (best === undefined) return undefined;
  const b = new SqlBuilder();
  const driver = merged[best];
  const where: string[] = [`d.resource_type = ${b.p(type)}`];
  let from: string;
  let byValue: DrivenSearch['byValue'];
  if (driver.kind === 'chain') {
    // The reference rows of the matches: those to a live target that matches, and those to a contained resource
    // whose own rows match.
    const { type: target, criterion } = driver.targets[0];
    const c = b.alias('c');
    const r2 = b.alias('r');
    const v = visible(b, r2, restriction, target);
    const branches = [
      `SELECT ${c}.id, ${c}.resource_type FROM search_reference ${c} JOIN resource ${r2} ON ${r2}.id = ${c}.target_id AND ${r2}.resource_type = ${c}.target_type
       WHERE ${c}.resource_type = ${b.p(type)} AND ${c}.param = ${b.p(driver.code)} AND ${c}.target_type = ${b.p(target)} AND NOT ${r2}.deleted
         AND ${criterionSql(b, r2, criterion, restriction, target)}${v === 'true' ? '' : ` AND ${v}`}`,
    ];
    const cref = b.alias('c');
    const inContained = containedChain(b, cref, driver.code, target, criterion, restriction);
    if (inContained) {
      branches.push(`SELECT ${cref}.id, ${cref}.resource_type FROM ${inContained.from}
       WHERE ${cref}.resource_type = ${b.p(type)} AND ${inContained.where}`);
    }
    from = `(${branches.join('\n      UNION ALL\n      ')}) d`;
  } else if (driver.kind === 'has') {
    // The referring resources' reference rows name the matches (their targets): the page's ids come from those
    // rows, and a target must be live (a reference may dangle when referential integrity is off).
    const h = b.alias('h');
    const t = b.alias('r');
    const v = visible(b, h, restriction, driver.type);
    from = `(SELECT ${h}.target_id AS id, ${h}.target_type AS resource_type FROM search_reference ${h}
        JOIN resource ${t} ON ${t}.id = ${h}.target_id AND ${t}.resource_type = ${h}.target_type AND NOT ${t}.deleted
       WHERE ${h}.resource_type = ${b.p(driver.type)} AND ${h}.param = ${b.p(driver.code)} AND ${h}.target_type = ${b.p(type)}
         AND ${criterionSql(b, h, driver.criterion, restriction, driver.type)}${v === 'true' ? '' : ` AND ${v}`}) d`;
  } else {
    const ic = indexCondition(b, driver)!;
    from = `${ic.table} d`;
    where.push(`d.param = ${b.p(ic.param)}`, ic.cond('d'));
    if (driver.kind === 'string' && driver.mode === 'start' && ic.table === 'search_string') {
      // A probe per row (OFFSET 0: not turned into a join) reading the resource's rows through the owner index,
      // INCLUDE (value); `value || ''` keeps the planner from ranging the value index instead, over every value
      // between the prefix and this one. (The parameters it adds are used by every statement of the search.)
      const d2 = b.alias('s');
      byValue = {
        first: `NOT EXISTS (SELECT 1 FROM (SELECT x.id, x.resource_type, x.param, x.value || '' AS value FROM search_string x) ${d2}
        WHERE ${d2}.id = d.id AND ${d2}.resource_type = d.resource_type AND ${d2}.param = d.param AND ${d2}.value < d.value AND ${ic.cond(d2)}
        OFFSET 0)`,
      };
    }
  }
  merged.forEach((c, i) => {
    if (i !== best) where.push(criterionSql(b, 'd', c, restriction, type, true));
  });
  const v = visible(b, 'd', restriction, type);
  if (v !== 'true') where.push(v);
  return { type, from, where: where.join('\n      AND '), params: b.params, ...(byValue ? { byValue } : {}) };
}

/** Criteria of a conditional operation as a predicate over `resource r` (repository.findIds). */
export function compileCriteria(resourceType: string, criteria: Criterion[], params: unknown[] = [], restriction?: AccessRestriction): SqlFragment {
  const b = new SqlBuilder(params);
  return { sql: searchPredicate(b, 'r', [resourceType], criteria, restriction), params: b.params };
}
