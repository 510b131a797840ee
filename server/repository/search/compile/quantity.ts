/** Quantity criteria (search.html#quantity): UCUM-canonical when the unit converts, else as written. */
import type { Criterion, QuantityValue } from '../../../fhir/search/criteria';
import { numberCondition } from './number';
import type { IndexCondition, SqlBuilder } from './sql';

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

export function quantityIndex(b: SqlBuilder, c: Criterion & { kind: 'quantity' }): IndexCondition {
  return {
    table: 'search_quantity',
    param: c.code,
    cond: (t) => [c.values, ...(c.also ?? [])].map((g) => `(${g.map((v) => quantityCondition(b, t, v)).join(' OR ')})`).join(' AND '),
  };
}
