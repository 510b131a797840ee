/** A search without `_sort` driven from the index rows of its most selective criterion. */
import type { Criterion } from '../../../fhir/search/criteria';
import { CODE_DATE_PARAM } from '../../../fhir/search/extract';
import { searchParam } from '../../../fhir/search/registry';
import { visible, type AccessRestriction } from './access';
import { indexCondition } from './criterion';
import { DATE_SPAN, dateCondition, spanWindow } from './date';
import { containedChain, criterionSql, mergeRanges, singleValuedParam, usesResourceColumns } from './planner';
import { SqlBuilder } from './sql';
import { tokenCondition } from './token';

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
