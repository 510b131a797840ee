/** Token conditions: how values group into index probes, and what they match (evaluated by PostgreSQL). */
import { expectBound, sqlEvaluator, type Column } from '../../../../test/sql';
import type { TokenValue } from '../../../fhir/search/criteria';
import { SqlBuilder } from './sql';
import { terminologyIndex, tokenCondition, tokenIndex } from './token';

const db = sqlEvaluator();
afterAll(() => db.close());

const row = (system: string | null, code: string): Record<string, Column> => ({ system: [system, 'text'], code: [code, 'text'] });
const match = (values: TokenValue[], system: string | null, code: string) => db.matches((b, t) => tokenCondition(b, t, values), row(system, code));

test('values are bound, never written into the SQL', () => {
  const b = new SqlBuilder();
  const sql = tokenCondition(b, 't', [{ system: 'http://loinc.org', code: "8302-2' OR true --" }]);
  expect(sql).not.toContain('8302-2');
  expect(sql).not.toContain('loinc');
  expectBound(sql, b.params.length);
  expect(b.params).toEqual(["8302-2' OR true --", 'http://loinc.org']);
});

test('one code is an equality (index order by id), several one = ANY probe', () => {
  const b = new SqlBuilder();
  expect(tokenCondition(b, 't', [{ system: null, code: 'a' }])).toBe('((t.code = $1::text AND t.system IS NULL))');
  const b2 = new SqlBuilder();
  expect(
    tokenCondition(b2, 't', [
      { system: 's', code: 'a' },
      { system: 's', code: 'b' },
    ]),
  ).toBe('((t.code = ANY($1::text[]) AND t.system = $2))');
  expect(b2.params).toEqual([['a', 'b'], 's']);
});

test('system|code, |code, code, system| match as search.html#token says', async () => {
  expect(await match([{ system: 'http://loinc.org', code: '8302-2' }], 'http://loinc.org', '8302-2')).toBe(true);
  expect(await match([{ system: 'http://loinc.org', code: '8302-2' }], 'http://snomed.info/sct', '8302-2')).toBe(false);
  expect(await match([{ system: null, code: 'x' }], null, 'x')).toBe(true);
  expect(await match([{ system: null, code: 'x' }], 'http://s', 'x')).toBe(false);
  expect(await match([{ system: undefined, code: 'x' }], 'http://s', 'x')).toBe(true);
  expect(await match([{ system: 'http://s', code: null }], 'http://s', 'anything')).toBe(true);
  expect(await match([{ system: 'http://s', code: null }], 'http://t', 'anything')).toBe(false);
});

test('a code without a system also matches its national-number form without hyphens', async () => {
  const b = new SqlBuilder();
  tokenCondition(b, 't', [{ system: undefined, code: '12-3456-7890-1234' }]);
  expect(b.params[0]).toEqual(['12-3456-7890-1234', '12345678901234']);
  expect(await match([{ system: undefined, code: '12-3456-7890-1234' }], 'https://healthid.abdm.gov.in', '12345678901234')).toBe(true);
});

test('values of different shapes are OR-ed', async () => {
  const values: TokenValue[] = [
    { system: 'http://a', code: '1' },
    { system: null, code: '2' },
  ];
  expect(await match(values, 'http://a', '1')).toBe(true);
  expect(await match(values, null, '2')).toBe(true);
  expect(await match(values, 'http://a', '2')).toBe(false);
});

test('no value at all matches nothing', () => {
  expect(tokenCondition(new SqlBuilder(), 't', [])).toBe('false');
});

test('the token criterion is on search_token, :not negated', () => {
  const b = new SqlBuilder();
  const ic = tokenIndex(b, { kind: 'token', code: 'gender', values: [{ system: undefined, code: 'male' }], not: true });
  expect(ic).toMatchObject({ table: 'search_token', param: 'gender', negate: true });
  expect(ic.cond('x')).toContain('x.code');
});

test('terminology: the resolved codes and systems; none resolved matches nothing (:not-in: everything, negated)', () => {
  const b = new SqlBuilder();
  const ic = terminologyIndex(b, {
    kind: 'terminology',
    code: 'code',
    modifier: 'in',
    values: [],
    resolved: { pairs: [{ system: 'http://loinc.org', code: '1' }], systems: ['http://snomed.info/sct'] },
  });
  expect(ic.negate).toBe(false);
  const sql = ic.cond('t');
  expect(b.params).toEqual(['1', 'http://loinc.org', 'http://snomed.info/sct']);
  expect(sql).toContain('t.system = $3');
  const none = terminologyIndex(new SqlBuilder(), { kind: 'terminology', code: 'code', modifier: 'not-in', values: [] });
  expect(none.cond('t')).toBe('false');
  expect(none.negate).toBe(true);
});
