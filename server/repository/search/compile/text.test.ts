/** `_text` and `_content`: full-text queries on the resource's one search_text row. */
import { sqlEvaluator } from '../../../../test/sql';
import { SqlBuilder } from './sql';
import { textIndex } from './text';

const db = sqlEvaluator();
afterAll(() => db.close());

test('every word present; _text only in the narrative (weight A), _content anywhere', async () => {
  const tsv = (sql: string): [string, string] => [sql, 'tsvector'];
  const row = { tsv: tsv("'chest':1A 'pain':2A 'aspirin':3") };
  const match = (code: '_text' | '_content', words: string[][]) =>
    db.matches((b, t) => textIndex(b, { kind: 'text', code, values: words }).cond(t), row);
  expect(await match('_text', [['chest', 'pain']])).toBe(true);
  expect(await match('_text', [['aspirin']])).toBe(false);
  expect(await match('_content', [['aspirin']])).toBe(true);
  expect(await match('_content', [['chest', 'fever']])).toBe(false);
  expect(await match('_content', [['fever'], ['aspirin']])).toBe(true);
});

test('the row is the _content one whichever parameter; the words are a bound tsquery', () => {
  const b = new SqlBuilder();
  const ic = textIndex(b, { kind: 'text', code: '_text', values: [['chest', 'pain']] });
  expect(ic).toMatchObject({ table: 'search_text', param: '_content' });
  expect(ic.cond('t')).toBe('(t.tsv @@ $1::tsquery)');
  expect(b.params).toEqual(["'chest':A & 'pain':A"]);
});
