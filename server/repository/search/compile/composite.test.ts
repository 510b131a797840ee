/** Composite conditions: every component on the same search_composite row (the same element). */
import { sqlEvaluator, type Column } from '../../../../test/sql';
import type { CompositeValue } from '../../../fhir/search/criteria';
import { CANONICAL_MARK } from '../../../fhir/search/normalise';
import { parseCompositeValue } from '../../../fhir/search/values';
import { searchParam } from '../../../fhir/search/registry';
import { compositeIndex } from './composite';
import { SqlBuilder } from './sql';

const db = sqlEvaluator();
afterAll(() => db.close());

const ctx = { timeZone: 'UTC', baseUrl: '' };
const codeValueQuantity = searchParam('Observation', 'code-value-quantity')!;
const value = (raw: string): CompositeValue => parseCompositeValue(codeValueQuantity, 'code-value-quantity', raw, ctx);

/** A row for LOINC 8480-6 with a value of 150 mm[Hg] (canonical: the mark as system, the canonical unit as code). */
function row(code: string, system: string, unit: string, v: number): Record<string, Column> {
  const cols: Record<string, Column> = {
    c1_system: ['http://loinc.org', 'text'],
    c1_code: [code, 'text'],
    c2_system: [system, 'text'],
    c2_code: [unit, 'text'],
  };
  for (const c of ['c2_low', 'c2_high']) cols[c] = [v, 'numeric'];
  return cols;
}

const match = (raw: string, r: Record<string, Column>) =>
  db.matches((b, t) => compositeIndex(b, { kind: 'composite', code: 'code-value-quantity', values: [value(raw)] }).cond(t), r);

test('both components must hold on the one row', async () => {
  const systolic = row('8480-6', 'http://unitsofmeasure.org', 'mm[Hg]', 150);
  expect(await match('http://loinc.org|8480-6$gt140', systolic)).toBe(true);
  expect(await match('http://loinc.org|8480-6$lt140', systolic)).toBe(false);
  expect(await match('http://loinc.org|8462-4$gt140', systolic)).toBe(false);
});

test('a UCUM quantity component is compared on the canonical row only', async () => {
  const b = new SqlBuilder();
  const sql = compositeIndex(b, {
    kind: 'composite',
    code: 'code-value-quantity',
    values: [value('8480-6$gt140|http://unitsofmeasure.org|mm[Hg]')],
  }).cond('t');
  expect(sql).toContain('t.c2_system = $');
  expect(b.params).toContain(CANONICAL_MARK);
  const v = value('8480-6$gt140|http://unitsofmeasure.org|mm[Hg]');
  const canonical = v.second.type === 'quantity' ? v.second.value.canonical! : undefined;
  expect(
    await match(
      '8480-6$gt140|http://unitsofmeasure.org|mm[Hg]',
      row('8480-6', CANONICAL_MARK, canonical!.unit, (Number(canonical!.value) * 150) / 140),
    ),
  ).toBe(true);
  // a row as written is not the canonical row
  expect(await match('8480-6$gt140|http://unitsofmeasure.org|mm[Hg]', row('8480-6', 'http://unitsofmeasure.org', 'mm[Hg]', 150))).toBe(false);
});
