/** Uri conditions: exact, :above (the value is below the stored URL), :below (a prefix). */
import { sqlEvaluator } from '../../../../test/sql';
import { SqlBuilder } from './sql';
import { uriIndex } from './uri';

const db = sqlEvaluator();
afterAll(() => db.close());

const match = (mode: 'exact' | 'above' | 'below', value: string, stored: string) =>
  db.matches((b, t) => uriIndex(b, { kind: 'uri', code: 'url', mode, values: [value] }).cond(t), { value: [stored, 'text'] });

test('exact', async () => {
  expect(await match('exact', 'http://a.org/fhir/ValueSet/x', 'http://a.org/fhir/ValueSet/x')).toBe(true);
  expect(await match('exact', 'http://a.org/fhir/ValueSet/x', 'http://a.org/fhir/ValueSet/x2')).toBe(false);
});

test(':above finds the stored URLs the value is under, path segment by path segment', async () => {
  expect(await match('above', 'http://a.org/fhir/ValueSet/x', 'http://a.org/fhir')).toBe(true);
  expect(await match('above', 'http://a.org/fhir/ValueSet/x', 'http://a.org/fhir/ValueSet/x')).toBe(true);
  expect(await match('above', 'http://a.org/fhir/ValueSet/x', 'http://a.org/fh')).toBe(false);
  const b = new SqlBuilder();
  uriIndex(b, { kind: 'uri', code: 'url', mode: 'above', values: ['http://a.org/b/c/'] }).cond('t');
  expect(b.params).toEqual([['http://a.org/b/c', 'http://a.org/b', 'http://a.org']]);
});

test(':below is a prefix range', async () => {
  expect(await match('below', 'http://a.org/fhir', 'http://a.org/fhir/ValueSet/x')).toBe(true);
  expect(await match('below', 'http://a.org/fhir', 'http://b.org/fhir')).toBe(false);
});
