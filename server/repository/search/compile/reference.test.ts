/** Reference conditions: by type and id, by id alone, by absolute URL (evaluated by PostgreSQL). */
import { sqlEvaluator, type Column } from '../../../../test/sql';
import type { ReferenceValue } from '../../../fhir/search/criteria';
import { referenceIndex } from './reference';
import { SqlBuilder } from './sql';

const db = sqlEvaluator();
afterAll(() => db.close());

const row = (type: string | null, id: string | null, url: string | null): Record<string, Column> => ({
  target_type: [type, 'text'],
  target_id: [id, 'text'],
  url: [url, 'text'],
});
const match = (values: ReferenceValue[], r: Record<string, Column>) =>
  db.matches((b, t) => referenceIndex(b, { kind: 'reference', code: 'subject', values }).cond(t), r);

test('Type/id needs both; a bare id any type; a URL its url', async () => {
  expect(await match([{ type: 'Patient', id: '1' }], row('Patient', '1', null))).toBe(true);
  expect(await match([{ type: 'Patient', id: '1' }], row('Group', '1', null))).toBe(false);
  expect(await match([{ id: '1' }], row('Group', '1', null))).toBe(true);
  expect(await match([{ url: 'https://x.org/Patient/1' }], row(null, null, 'https://x.org/Patient/1'))).toBe(true);
  expect(await match([{ url: 'https://x.org/Patient/1' }], row('Patient', '1', null))).toBe(false);
});

test('ids of one type are one probe; types and forms are OR-ed', async () => {
  const b = new SqlBuilder();
  const sql = referenceIndex(b, {
    kind: 'reference',
    code: 'subject',
    values: [{ type: 'Patient', id: '1' }, { type: 'Patient', id: '2' }, { url: 'urn:x' }],
  }).cond('t');
  expect(b.params).toEqual([['1', '2'], 'Patient', ['urn:x']]);
  expect(sql.split(' OR ')).toHaveLength(2);
  expect(
    await match(
      [
        { type: 'Patient', id: '1' },
        { type: 'Group', id: '9' },
      ],
      row('Group', '9', null),
    ),
  ).toBe(true);
});
