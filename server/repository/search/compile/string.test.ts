/** String conditions: a prefix by default, :exact, :contains through the dictionary of distinct values. */
import { expectBound, sqlEvaluator } from '../../../../test/sql';
import { stringValue } from '../../../fhir/search/values';
import { SqlBuilder } from './sql';
import { stringIndex } from './string';

const db = sqlEvaluator();
afterAll(() => db.close());

const match = (mode: 'start' | 'exact', value: string, folded: string, exact: string) =>
  db.matches((b, t) => stringIndex(b, { kind: 'string', code: 'name', mode, values: [stringValue(value)] }).cond(t), {
    value: [folded, 'text'],
    exact: [exact, 'text'],
  });

test('a prefix of the folded value, in byte order', async () => {
  expect(await match('start', 'Sm', 'smith', 'Smith')).toBe(true);
  expect(await match('start', 'mit', 'smith', 'Smith')).toBe(false);
  expect(await match('start', 'ZOË', 'zoe', 'Zoë')).toBe(true);
});

test(':exact needs the exact text too', async () => {
  expect(await match('exact', 'Zoë', 'zoe', 'Zoë')).toBe(true);
  expect(await match('exact', 'Zoe', 'zoe', 'Zoë')).toBe(false);
});

test(':contains looks up search_string_dict with the LIKE wildcards of the value escaped', () => {
  const b = new SqlBuilder();
  const ic = stringIndex(b, { kind: 'string', code: 'name', mode: 'contains', values: [stringValue('50%_off\\')] });
  const sql = ic.cond('t');
  expect(ic).toMatchObject({ table: 'search_string', param: 'name' });
  expect(sql).toContain('search_string_dict');
  expect(b.params).toEqual(['%50\\%\\_off\\\\%']);
  expectBound(sql, 1);
});
