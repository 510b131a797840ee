/** Composite criteria (search.html#composite): every component tested on one search_composite row. */
import type { CompositeSecond, CompositeValue, Criterion } from '../../../fhir/search/criteria';
import { CANONICAL_MARK } from '../../../fhir/search/normalise';
import { dateCondition } from './date';
import { numberCondition } from './number';
import { MAX_CHAR, type IndexCondition, type SqlBuilder } from './sql';
import { tokenCondition } from './token';

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
function compositeValue(b: SqlBuilder, t: string, v: CompositeValue): string {
  const conds = [tokenCondition(b, t, [v.first], 'c1_system', 'c1_code'), compositeComponent(b, t, v.second, 2)];
  if (v.third) conds.push(compositeComponent(b, t, v.third, 3));
  return `(${conds.join(' AND ')})`;
}

export function compositeIndex(b: SqlBuilder, c: Criterion & { kind: 'composite' }): IndexCondition {
  return { table: 'search_composite', param: c.code, cond: (t) => `(${c.values.map((v) => compositeValue(b, t, v)).join(' OR ')})` };
}
