/** `_text` and `_content` (search.html#text): full-text queries on the resource's search_text row. */
import type { Criterion } from '../../../fhir/search/criteria';
import type { IndexCondition, SqlBuilder } from './sql';

export function textIndex(b: SqlBuilder, c: Criterion & { kind: 'text' }): IndexCondition {
  // One full-text row per resource (param _content): narrative words carry weight A, so _text asks for it.
  const weight = c.code === '_text' ? ':A' : '';
  return {
    table: 'search_text',
    param: '_content',
    cond: (t) => `(${c.values.map((ws) => `${t}.tsv @@ ${b.p(ws.map((w) => `'${w}'${weight}`).join(' & '), 'tsquery')}`).join(' OR ')})`,
  };
}
