/** Quantity conditions: UCUM-canonical when the unit converts, else matched on the unit as written. */
import { sqlEvaluator, type Column } from '../../../../test/sql';
import { parseQuantityValue } from '../../../fhir/search/values';
import { quantityIndex } from './quantity';
import { SqlBuilder } from './sql';

const db = sqlEvaluator();
afterAll(() => db.close());

/** A search_quantity row as extraction writes it: as written, and canonical when it converts. */
function row(value: number, system: string | null, code: string | null, canonical?: [string, number]): Record<string, Column> {
  return {
    system: [system, 'text'],
    code: [code, 'text'],
    low: [value, 'numeric'],
    high: [value, 'numeric'],
    canon_unit: [canonical?.[0] ?? null, 'text'],
    canon_low: [canonical?.[1] ?? null, 'numeric'],
    canon_high: [canonical?.[1] ?? null, 'numeric'],
  };
}

const match = (raw: string, r: Record<string, Column>) =>
  db.matches(
    (b, t) => quantityIndex(b, { kind: 'quantity', code: 'value-quantity', values: [parseQuantityValue('value-quantity', raw)] }).cond(t),
    r,
  );

test('a UCUM value is compared canonically: 1 g finds 1000 mg', async () => {
  const thousandMg = row(1000, 'http://unitsofmeasure.org', 'mg', ['g', 1]);
  expect(await match('1|http://unitsofmeasure.org|g', thousandMg)).toBe(true);
  expect(await match('2|http://unitsofmeasure.org|g', thousandMg)).toBe(false);
  expect(await match('1|http://unitsofmeasure.org|m', thousandMg)).toBe(false); // another dimension
});

test('a non-UCUM unit matches system and code as written; a bare number any unit', async () => {
  const tablets = row(5, 'http://example.org/units', 'tab');
  expect(await match('5|http://example.org/units|tab', tablets)).toBe(true);
  expect(await match('5|http://example.org/units|cap', tablets)).toBe(false);
  expect(await match('5', tablets)).toBe(true);
  expect(await match('gt5', tablets)).toBe(false);
});

test('the canonical form tests the canonical columns only', () => {
  const b = new SqlBuilder();
  const sql = quantityIndex(b, { kind: 'quantity', code: 'value-quantity', values: [parseQuantityValue('q', '1|http://unitsofmeasure.org|g')] }).cond(
    't',
  );
  expect(sql).toContain('t.canon_unit = $1');
  expect(sql).not.toContain('t.code');
  expect(b.params[0]).toBe('g');
});
