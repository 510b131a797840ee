/** Number criteria (search.html#number): conditions on search_number rows. */
import type { Criterion, NumberValue, Prefix } from '../../../fhir/search/criteria';
import type { IndexCondition, SqlBuilder } from './sql';

/** A stored number (point or range) against a search number: eq/ne/ap use the value's implied precision range. */
export function numberCondition(b: SqlBuilder, lo: string, hi: string, v: { prefix: Prefix; value: string; low: string; high: string }): string {
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

export function numberIndex(b: SqlBuilder, c: Criterion & { kind: 'number' }): IndexCondition {
  return {
    table: 'search_number',
    param: c.code,
    cond: (t) =>
      [c.values, ...(c.also ?? [])]
        .map((g) => `(${g.map((v: NumberValue) => numberCondition(b, `${t}.low`, `${t}.high`, v)).join(' OR ')})`)
        .join(' AND '),
  };
}
