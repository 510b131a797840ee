import type { JsonObject } from '../fhir/json';
import type { OperationOutcomeError } from '../fhir/outcome';
import {
  allocate,
  available,
  BASIC_TYPE_SYSTEM,
  checkStockItemWrite,
  fefo,
  isExpired,
  matchingLines,
  requestedQuantity,
  STOCK_EXT,
  supplyQuantity,
  withStockQuantity,
  type StockLine,
} from './stock';

const SNOMED = 'http://snomed.info/sct';

function item(id: string, onHand: number, reservedQty = 0, reorder?: number): JsonObject {
  const ext: JsonObject[] = [
    { url: STOCK_EXT.location, valueReference: { reference: 'Location/pharm' } },
    { url: STOCK_EXT.onHand, valueQuantity: { value: onHand, unit: 'tablet' } },
    { url: STOCK_EXT.reserved, valueQuantity: { value: reservedQty, unit: 'tablet' } },
  ];
  if (reorder !== undefined) ext.push({ url: STOCK_EXT.reorderQuantity, valueQuantity: { value: reorder, unit: 'tablet' } });
  return { resourceType: 'Basic', id, code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: 'stock-item' }] }, extension: ext };
}

function med(id: string, code: string | undefined, text: string, expiry?: string): JsonObject {
  return {
    resourceType: 'Medication',
    id,
    code: { ...(code ? { coding: [{ system: SNOMED, code }] } : {}), text },
    ...(expiry ? { batch: { lotNumber: `LOT-${id}`, expirationDate: expiry } } : {}),
  };
}

const NOW = '2026-12-05T10:00:00Z';

describe('requestedQuantity', () => {
  test('dispenseRequest.quantity wins, with its unit', () => {
    const q = requestedQuantity({
      resourceType: 'MedicationRequest',
      dispenseRequest: { quantity: { value: 15, unit: 'tablet' }, expectedSupplyDuration: { value: 30, code: 'd' } },
      dosageInstruction: [{ timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } } }],
    });
    expect(q).toEqual({ value: 15, unit: { unit: 'tablet' }, source: 'quantity' });
  });

  test('timing × expected supply duration, dose included, rounded up', () => {
    const q = requestedQuantity({
      resourceType: 'MedicationRequest',
      dispenseRequest: { expectedSupplyDuration: { value: 5, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' } },
      dosageInstruction: [
        { timing: { repeat: { frequency: 3, period: 1, periodUnit: 'd' } }, doseAndRate: [{ doseQuantity: { value: 2 } }] },
        { timing: { repeat: { frequency: 1, period: 2, periodUnit: 'd' } } },
      ],
    });
    // 3×2 per day + 0.5 per day = 6.5/day × 5 days = 32.5 → 33
    expect(q.value).toBe(33);
    expect(q.source).toBe('timing');
    expect(q.note).toMatch(/computed/);
  });

  test('a week of once-weekly doses', () => {
    const q = requestedQuantity({
      resourceType: 'MedicationRequest',
      dispenseRequest: { expectedSupplyDuration: { value: 4, code: 'wk' } },
      dosageInstruction: [{ timing: { repeat: { frequency: 1, period: 1, periodUnit: 'wk' } } }],
    });
    expect(q.value).toBe(4);
  });

  test('nothing to go on → 1 with a note', () => {
    const q = requestedQuantity({ resourceType: 'MedicationRequest', dosageInstruction: [{ text: 'one tablet after food' }] });
    expect(q).toMatchObject({ value: 1, source: 'default' });
    expect(q.note).toMatch(/defaulted to 1/);
  });
});

describe('product matching and FEFO', () => {
  const lines: StockLine[] = [
    { item: item('s1', 10), medication: med('m1', '322236009', 'Paracetamol 500 mg tablet', '2027-06-30') },
    { item: item('s2', 10), medication: med('m2', '322236009', 'Paracetamol 500 mg tablet', '2027-01-31') },
    { item: item('s3', 50), medication: med('m3', '322236009', 'Paracetamol 500 mg tablet', '2026-11-30') },
    { item: item('s4', 50), medication: med('m4', undefined, 'Amoxicillin 250 mg capsule', '2027-03-31') },
  ];

  test('by coding, else by text (case-insensitive)', () => {
    expect(matchingLines({ coding: [{ system: SNOMED, code: '322236009' }], text: 'whatever' }, lines).map((l) => l.item.id)).toEqual([
      's1',
      's2',
      's3',
    ]);
    expect(matchingLines({ text: '  amoxicillin 250 MG capsule ' }, lines).map((l) => l.item.id)).toEqual(['s4']);
    expect(matchingLines({ coding: [{ system: 'http://other', code: '322236009' }] }, lines)).toEqual([]);
  });

  test('expired batches are skipped; earliest expiry first', () => {
    expect(isExpired(lines[2].medication, NOW)).toBe(true);
    expect(isExpired(med('x', undefined, 'x', '2026-12-05'), NOW)).toBe(false);
    expect(fefo(lines.slice(0, 3), NOW).map((l) => l.item.id)).toEqual(['s2', 's1']);
  });

  test('allocation spans batches in FEFO order and reports a shortfall', () => {
    const ordered = fefo(lines.slice(0, 3), NOW);
    const a = allocate(ordered, 14);
    expect(a.ok && a.allocations.map((x) => [x.line.item.id, x.quantity])).toEqual([
      ['s2', 10],
      ['s1', 4],
    ]);
    expect(allocate(ordered, 25)).toEqual({ ok: false, available: 20, shortfall: 5 });
  });

  test('available = on-hand − reserved', () => {
    expect(available(item('a', 10, 3))).toBe(7);
    expect(available(item('a', 0.3, 0.1))).toBe(0.2);
    const a = allocate([{ item: item('a', 10, 8), medication: med('m', '1', 't') }], 3);
    expect(a).toEqual({ ok: false, available: 2, shortfall: 1 });
  });

  test('supply quantity = max(shortfall, reorder quantity)', () => {
    const l = [{ item: item('a', 1, 0, 100), medication: med('m', '1', 't') }];
    expect(supplyQuantity(l, 5)).toBe(100);
    expect(supplyQuantity(l, 150)).toBe(150);
    expect(supplyQuantity([{ item: item('b', 1), medication: med('m', '1', 't') }], 5)).toBe(5);
  });

  test('withStockQuantity keeps the unit and the other extensions', () => {
    const next = withStockQuantity(item('a', 10, 0), STOCK_EXT.reserved, 4);
    expect((next.extension as JsonObject[]).find((e) => e.url === STOCK_EXT.reserved)).toEqual({
      url: STOCK_EXT.reserved,
      valueQuantity: { value: 4, unit: 'tablet' },
    });
    const added = withStockQuantity(
      { ...item('b', 10), extension: [{ url: STOCK_EXT.onHand, valueQuantity: { value: 10, unit: 'tablet' } }] },
      STOCK_EXT.reserved,
      2,
    );
    expect(added.extension).toHaveLength(2);
  });
});

describe('checkStockItemWrite', () => {
  const status = (f: () => void): number | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return (e as OperationOutcomeError).status;
    }
  };
  const h = 'If-Match';
  test('create: reserved must be absent or 0', () => {
    expect(status(() => checkStockItemWrite({ current: undefined, next: item('a', 10, 0), ifMatch: false, ifMatchHeader: h }))).toBeUndefined();
    expect(status(() => checkStockItemWrite({ current: undefined, next: item('a', 10, 2), ifMatch: false, ifMatchHeader: h }))).toBe(422);
  });
  test('update: If-Match required, reserved unchanged', () => {
    expect(status(() => checkStockItemWrite({ current: item('a', 10, 2), next: item('a', 12, 2), ifMatch: false, ifMatchHeader: h }))).toBe(428);
    expect(status(() => checkStockItemWrite({ current: item('a', 10, 2), next: item('a', 12, 2), ifMatch: true, ifMatchHeader: h }))).toBeUndefined();
    expect(status(() => checkStockItemWrite({ current: item('a', 10, 2), next: item('a', 12, 0), ifMatch: true, ifMatchHeader: h }))).toBe(422);
  });
  test('other resources pass', () => {
    expect(
      status(() => checkStockItemWrite({ current: { resourceType: 'Basic' }, next: { resourceType: 'Basic' }, ifMatch: false, ifMatchHeader: h })),
    ).toBeUndefined();
  });
});
