/** Date conditions: each prefix against stored [low, high) ranges (evaluated by PostgreSQL), and the span window. */
import { expectBound, sqlEvaluator, type Column } from '../../../../test/sql';
import type { DatePrefix, DateValue } from '../../../fhir/search/criteria';
import { dateCondition, dateIndex, instantCondition, splitDateSql, spanWindow } from './date';
import { SqlBuilder } from './sql';

const db = sqlEvaluator();
afterAll(() => db.close());

/** The search value 2024-03: [2024-03-01, 2024-04-01). */
const march = (prefix: DatePrefix): DateValue => ({ prefix, range: { low: '2024-03-01T00:00:00.000Z', high: '2024-04-01T00:00:00.000Z' } });
const stored = (low: string, high: string): Record<string, Column> => ({ low: [low, 'timestamptz'], high: [high, 'timestamptz'] });

// stored ranges: inside March, after it, before it, straddling its start
const INSIDE = stored('2024-03-10T00:00:00Z', '2024-03-11T00:00:00Z');
const AFTER = stored('2024-04-05T00:00:00Z', '2024-04-06T00:00:00Z');
const BEFORE = stored('2024-02-01T00:00:00Z', '2024-02-02T00:00:00Z');

test.each([
  ['eq', [true, false, false]],
  ['ne', [false, true, true]],
  ['gt', [false, true, false]],
  ['lt', [false, false, true]],
  ['ge', [true, true, false]],
  ['le', [true, false, true]],
  ['sa', [false, true, false]],
  ['eb', [false, false, true]],
] as [DatePrefix, boolean[]][])('%s2024-03 against a day inside, after and before March', async (prefix, expected) => {
  const got = [];
  for (const row of [INSIDE, AFTER, BEFORE]) got.push(await db.matches((b, t) => dateCondition(b, `${t}.low`, `${t}.high`, march(prefix)), row));
  expect(got).toEqual(expected);
});

test('ap widens the range by 10 % of its distance from now', async () => {
  const farPast: DateValue = { prefix: 'ap', range: { low: '1990-01-01T00:00:00.000Z', high: '1990-01-02T00:00:00.000Z' } };
  // more than 3 years from 1990 today: within the widened range, though far outside the day
  expect(await db.matches((b, t) => dateCondition(b, `${t}.low`, `${t}.high`, farPast), stored('1988-06-01T00:00:00Z', '1988-06-02T00:00:00Z'))).toBe(
    true,
  );
  expect(await db.matches((b, t) => dateCondition(b, `${t}.low`, `${t}.high`, farPast), stored('1970-06-01T00:00:00Z', '1970-06-02T00:00:00Z'))).toBe(
    false,
  );
});

test('an instant column (_lastUpdated) is a millisecond range', async () => {
  const at: Record<string, Column> = { last_updated: ['2024-03-31T23:59:59.999Z', 'timestamptz'] };
  expect(await db.matches((b, t) => instantCondition(b, `${t}.last_updated`, march('eq')), at)).toBe(true);
  expect(await db.matches((b, t) => instantCondition(b, `${t}.last_updated`, march('gt')), at)).toBe(false);
});

test('the span window: bounded on both sides only when the AND-ed groups are', () => {
  expect(spanWindow([[march('eq')]])).toEqual({ low: '2024-03-01T00:00:00.000Z', high: '2024-04-01T00:00:00.000Z' });
  expect(spanWindow([[march('ge')]])).toBeUndefined();
  expect(spanWindow([[march('ge')], [{ prefix: 'lt', range: { low: '2024-06-01T00:00:00.000Z', high: '2024-06-02T00:00:00.000Z' } }]])).toEqual({
    low: '2024-03-01T00:00:00.000Z',
    high: '2024-06-01T00:00:00.000Z',
  });
  // OR-ed values: the hull; a `ne` is unbounded
  expect(spanWindow([[march('eq'), { prefix: 'eq', range: { low: '2024-07-01T00:00:00.000Z', high: '2024-07-02T00:00:00.000Z' } }]])?.high).toBe(
    '2024-07-02T00:00:00.000Z',
  );
  expect(spanWindow([[march('ne')]])).toBeUndefined();
});

test('the date criterion on search_date adds the span overlap (GiST) only when two-sided', () => {
  const b = new SqlBuilder();
  const two = dateIndex(b, { kind: 'date', code: 'date', values: [march('ge')], also: [[march('lt')]] });
  expect(two).toMatchObject({ table: 'search_date', param: 'date' });
  const sql = two.cond('t');
  expect(sql).toContain('&& tstzrange(');
  expectBound(sql, b.params.length);
  expect(dateIndex(new SqlBuilder(), { kind: 'date', code: 'date', values: [march('ge')] }).cond('t')).not.toContain('tstzrange');
});

test('split: the span overlap and the exact bounds as two EXISTS on the owner, when two-sided', () => {
  const b = new SqlBuilder();
  const sql = splitDateSql(b, 'r', { kind: 'date', code: 'date', values: [march('eq')] })!;
  expect(sql.match(/EXISTS \(SELECT 1 FROM search_date/g)).toHaveLength(2);
  expect(sql).toContain('.id = r.id AND');
  expectBound(sql, b.params.length);
  expect(splitDateSql(new SqlBuilder(), 'r', { kind: 'date', code: 'date', values: [march('gt')] })).toBeUndefined();
});
