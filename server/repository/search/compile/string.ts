/** String criteria (search.html#string), and token `:text`: prefix, `:exact` and `:contains` on search_string rows. */
import type { Criterion } from '../../../fhir/search/criteria';
import { MAX_CHAR, type IndexCondition, type SqlBuilder } from './sql';

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export function stringIndex(b: SqlBuilder, c: Criterion & { kind: 'string' }): IndexCondition {
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
}
