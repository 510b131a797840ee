/** Number conditions: each prefix against stored values (evaluated by PostgreSQL), the precision of the search value. */
import { sqlEvaluator } from '../../../../test/sql';
import { parseNumberValue } from '../../../fhir/search/values';
import { numberCondition, numberIndex } from './number';
import { SqlBuilder } from './sql';

const db = sqlEvaluator();
afterAll(() => db.close());

/** Whether the search value `raw` matches a stored point value. */
const match = (raw: string, value: number) =>
  db.matches((b, t) => numberCondition(b, `${t}.low`, `${t}.high`, parseNumberValue('n', raw)), {
    low: [value, 'numeric'],
    high: [value, 'numeric'],
  });

test.each([
  ['100', 100.4, true],
  ['100', 100.5, false],
  ['100.0', 100.04, true],
  ['100.0', 100.4, false],
  ['ne100', 101, true],
  ['ne100', 100.2, false],
  ['gt100', 100.01, true],
  ['gt100', 100, false],
  ['lt100', 99.99, true],
  ['ge100', 100, true],
  ['le100', 100.01, false],
  ['sa100', 100.01, true],
  ['eb100', 99.9, true],
  ['eb100', 100, false],
  ['ap100', 109, true],
  ['ap100', 111, false],
] as [string, number, boolean][])('%s against %d: %s', async (raw, value, expected) => {
  expect(await match(raw, value)).toBe(expected);
});

test('repeated criteria of one parameter (merged) are AND-ed groups on the same row', () => {
  const b = new SqlBuilder();
  const ic = numberIndex(b, {
    kind: 'number',
    code: 'probability',
    values: [parseNumberValue('p', 'gt0.2')],
    also: [[parseNumberValue('p', 'lt0.8')]],
  });
  expect(ic).toMatchObject({ table: 'search_number', param: 'probability' });
  expect(ic.cond('t')).toBe('(t.high > $1::numeric) AND (t.low < $2::numeric)');
  expect(b.params).toEqual(['0.2', '0.8']);
});
