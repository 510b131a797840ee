/**
 * compileSearch: parsed criteria → one SQL predicate over `resource r`, every value a bind parameter
 * (no input ever reaches SQL text). Token criteria probe the (resource_type, param, code, system) index.
 */
import type { InstantRange } from '../../fhir/datetime';
import type { Criterion, DatePrefix } from './parse';

/**
 * A point in time (a column) against a search value's range, per the prefixes of search.html#prefix.
 * `ap` (approximately) widens the range by 10% of its distance from now, as the spec suggests.
 */
export function dateCondition(column: string, prefix: DatePrefix, range: InstantRange, p: (v: unknown) => string): string {
  const lo = () => `${p(range.low)}::timestamptz`;
  const hi = () => `${p(range.high)}::timestamptz`;
  switch (prefix) {
    case 'eq':
      return `(${column} >= ${lo()} AND ${column} < ${hi()})`;
    case 'ne':
      return `(${column} < ${lo()} OR ${column} >= ${hi()})`;
    case 'gt':
    case 'sa':
      return `${column} >= ${hi()}`;
    case 'lt':
    case 'eb':
      return `${column} < ${lo()}`;
    case 'ge':
      return `${column} >= ${lo()}`;
    case 'le':
      return `${column} < ${hi()}`;
    case 'ap': {
      const now = Date.now();
      const low = Date.parse(range.low);
      const high = Date.parse(range.high);
      const widen = Math.abs(now - (low + high) / 2) * 0.1;
      const w = { low: new Date(low - widen).toISOString(), high: new Date(high + widen).toISOString() };
      return `(${column} >= ${p(w.low)}::timestamptz AND ${column} < ${p(w.high)}::timestamptz)`;
    }
  }
}

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

export function compileCriteria(resourceType: string, criteria: Criterion[], params: unknown[] = []): SqlFragment {
  const p = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const rt = p(resourceType);
  const where: string[] = [`r.resource_type = ${rt}`, 'NOT r.deleted'];
  for (const c of criteria) {
    if (c.kind === 'lastUpdated') {
      where.push(`(${c.values.map((v) => dateCondition('r.last_updated', v.prefix, v.range, p)).join(' OR ')})`);
      continue;
    }
    if (c.kind === 'id') {
      where.push(`r.id = ANY(${p(c.ids)}::text[])`);
      continue;
    }
    const ors = c.values.map((v) => {
      const conds = [`t.param = ${p(c.code)}`];
      if (v.code !== null) conds.push(`t.code = ${p(v.code)}`);
      if (v.system === null) conds.push('t.system IS NULL');
      else if (v.system !== undefined) conds.push(`t.system = ${p(v.system)}`);
      return `(${conds.join(' AND ')})`;
    });
    where.push(`r.id IN (SELECT t.id FROM search_token t WHERE t.resource_type = ${rt} AND (${ors.join(' OR ')}))`);
  }
  return { sql: where.join(' AND '), params };
}
