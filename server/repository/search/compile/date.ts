/** Date criteria (search.html#date) and `_lastUpdated`: stored [low, high) ranges against a value's range. */
import { instantText, type InstantRange } from '../../../fhir/datetime';
import type { Criterion, DateValue, Prefix } from '../../../fhir/search/criteria';
import { ownedBy, type IndexCondition, type SqlBuilder } from './sql';

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
  return { low: instantText(low - widen), high: instantText(high + widen) };
}

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
export function spanWindow(groups: DateValue[][]): { low: string; high: string } | undefined {
  let low: string | undefined;
  let high: string | undefined;
  for (const g of groups) {
    // OR: the hull of the values' windows
    const ws = g.map(dateWindow);
    const gl = ws.some((w) => w.low === undefined) ? undefined : ws.map((w) => w.low!).sort()[0];
    const gh = ws.some((w) => w.high === undefined)
      ? undefined
      : ws
          .map((w) => w.high!)
          .sort()
          .at(-1);
    // AND: the intersection
    if (gl !== undefined && (low === undefined || Date.parse(gl) > Date.parse(low))) low = gl;
    if (gh !== undefined && (high === undefined || Date.parse(gh) < Date.parse(high))) high = gh;
  }
  if (low === undefined || high === undefined) return undefined;
  // Disjoint windows (`le2024-03&9999-12-31`): a span can still meet both only by covering the gap between them, so
  // the gap is the prefilter (tstzrange refuses low > high); the exact conditions that follow decide the match.
  return Date.parse(low) > Date.parse(high) ? { low: high, high: low } : { low, high };
}

/** The span of a search_date row as the GiST index `search_date_span` stores it. */
export const DATE_SPAN = (t: string): string => `tstzrange(least(${t}.low, ${t}.high), greatest(${t}.low, ${t}.high), '[]')`;

export function dateCondition(b: SqlBuilder, lo: string, hi: string, v: DateValue): string {
  const r = v.prefix === 'ap' ? approximate(v.range) : v.range;
  return rangeCondition(
    lo,
    hi,
    v.prefix,
    () => b.p(r.low, 'timestamptz'),
    () => b.p(r.high, 'timestamptz'),
  );
}

/** A point in time (a resource column) against a search value's range (used for _lastUpdated). */
export function instantCondition(b: SqlBuilder, column: string, v: DateValue): string {
  return dateCondition(b, column, `(${column} + interval '1 millisecond')`, v);
}

/**
 * A two-sided date criterion tested for candidates of another criterion: the span overlap as its own EXISTS (the
 * GiST index, estimated from the span statistics alone — estimated together with the exact bounds, which it makes
 * redundant, the planner would think it matches a hundredth of what it does and never hash it) and the exact
 * conditions as a second EXISTS, probed by owner for the few candidates that remain.
 */
export function splitDateSql(b: SqlBuilder, alias: string, c: Criterion & { kind: 'date' }): string | undefined {
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

/** A date criterion: each AND-ed group of OR-ed values, and the span window the GiST index answers. */
export function dateIndex(b: SqlBuilder, c: Criterion & { kind: 'date' }): IndexCondition {
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
