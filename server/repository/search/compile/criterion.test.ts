/** The dispatch of criteria to their parameter type's index table, and `:missing` for every type. */
import type { Criterion } from '../../../fhir/search/criteria';
import type { SearchParamType } from '../../../fhir/search/registry';
import { indexCondition } from './criterion';
import { SqlBuilder } from './sql';

test.each([
  ['token', 'search_token'],
  ['string', 'search_string'],
  ['date', 'search_date'],
  ['number', 'search_number'],
  ['quantity', 'search_quantity'],
  ['uri', 'search_uri'],
  ['reference', 'search_reference'],
  ['composite', 'search_composite'],
  ['special', 'search_geo'],
] as [SearchParamType, string][])(':missing on a %s parameter: whether the resource has a row in %s', (valueType, table) => {
  const missing = indexCondition(new SqlBuilder(), { kind: 'missing', code: 'p', valueType, missing: true })!;
  expect(missing).toMatchObject({ table, param: 'p', negate: true });
  expect(missing.cond('t')).toBe('true');
  expect(indexCondition(new SqlBuilder(), { kind: 'missing', code: 'p', valueType, missing: false })!.negate).toBe(false);
});

test.each([
  [{ kind: 'token', code: 'c', values: [{ system: null, code: 'x' }] }, 'search_token'],
  [{ kind: 'terminology', code: 'c', modifier: 'in', values: [] }, 'search_token'],
  [{ kind: 'string', code: 'c', mode: 'start', values: [{ folded: 'x', exact: 'x' }] }, 'search_string'],
  [{ kind: 'text', code: '_content', values: [['x']] }, 'search_text'],
  [{ kind: 'uri', code: 'c', mode: 'exact', values: ['x'] }, 'search_uri'],
  [{ kind: 'reference', code: 'c', values: [{ id: 'x' }] }, 'search_reference'],
  [{ kind: 'near', code: 'near', values: [{ lat: 0, lng: 0, meters: 1 }] }, 'search_geo'],
] as [Criterion, string][])('%j is on %s', (c, table) => {
  expect(indexCondition(new SqlBuilder(), c)?.table).toBe(table);
});

test('criteria on resource columns or other resources have no index-table form', () => {
  for (const c of [
    { kind: 'id', ids: ['a'] },
    { kind: 'lastUpdated', values: [] },
    { kind: 'list', ids: ['a'] },
    { kind: 'compartment', type: 'Patient', id: '1' },
    { kind: 'has', type: 'Observation', code: 'subject', criterion: { kind: 'id', ids: ['a'] } },
  ] as Criterion[]) {
    expect(indexCondition(new SqlBuilder(), c)).toBeUndefined();
  }
});
