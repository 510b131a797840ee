/**
 * Billing arithmetic (HMS-DOMAIN §0 "price components"): integer paise, half-up rounding, factor = quantity,
 * MRP informational only, totals by type and code.
 */
import { LosslessNumber, type JsonObject, toJson } from '../fhir/json';
import {
  type InvoiceLine,
  PRICE_COMPONENT_SYSTEM,
  decimal,
  decimalJson,
  invoiceAmounts,
  paiseTimes,
  parseDecimal,
  priceLine,
  roundTo,
  rupees,
  toPaise,
  unitPrice,
  type UnitPrice,
} from './pricing';

const inr = (value: number | LosslessNumber): JsonObject => ({ value, currency: 'INR' });
const taxCode = (code: string): JsonObject => ({ coding: [{ system: PRICE_COMPONENT_SYSTEM, code }] });

/** A medicine's definition: rate, CGST, SGST, MRP. */
function medicine(rate: number | LosslessNumber, cgst: number | LosslessNumber, sgst: number | LosslessNumber, mrp?: number): JsonObject {
  return {
    resourceType: 'ChargeItemDefinition',
    url: 'https://arogya.dev/fhir/ChargeItemDefinition/med-1',
    status: 'active',
    propertyGroup: [
      {
        priceComponent: [
          { type: 'base', amount: inr(rate) },
          ...(mrp !== undefined ? [{ type: 'informational', code: taxCode('MRP'), amount: inr(mrp) }] : []),
          { type: 'tax', code: taxCode('CGST'), factor: cgst },
          { type: 'tax', code: taxCode('SGST'), factor: sgst },
        ],
      },
    ],
  };
}

function price(def: JsonObject): UnitPrice {
  const r = unitPrice(def);
  if (!('price' in r)) throw new Error(r.unpriced);
  return r.price;
}

const text = (v: unknown): string => toJson(v);

describe('decimals', () => {
  test.each([
    ['0.06', 6n, 2],
    ['500', 500n, 0],
    ['500.00', 50000n, 2],
    ['-2.5', -25n, 1],
    ['1e-7', 1n, 7],
    ['1.5E3', 1500n, 0],
    ['12.345e1', 12345n, 2],
  ])('%s parses exactly', (t, units, scale) => {
    expect(parseDecimal(t)).toEqual({ units, scale });
  });

  test('numbers and LosslessNumbers parse from their text', () => {
    expect(parseDecimal(0.06)).toEqual({ units: 6n, scale: 2 });
    expect(parseDecimal(new LosslessNumber('235.40'))).toEqual({ units: 23540n, scale: 2 });
    expect(parseDecimal('abc')).toBeUndefined();
    expect(parseDecimal(undefined)).toBeUndefined();
    expect(parseDecimal({} as never)).toBeUndefined();
  });

  test.each([
    // [value, digits, expected]
    ['0.005', 2, 1n], // half a paisa rounds up
    ['0.0049', 2, 0n],
    ['0.015', 2, 2n],
    ['0.025', 2, 3n], // half-up, not banker's rounding (which would give 2)
    ['-0.005', 2, -1n], // symmetric: a credit is the exact negative
    ['-0.0049', 2, 0n],
    ['2.5', 0, 3n],
    ['3.5', 0, 4n],
    ['-2.5', 0, -3n],
    ['12.3', 2, 1230n],
  ])('roundTo(%s, %i) = %s', (v, digits, expected) => {
    expect(roundTo(decimal(v), digits)).toBe(expected);
  });

  test('paise × factor rounds half-up at exactly 0.5 paisa', () => {
    expect(paiseTimes(25n, decimal('0.06'))).toBe(2n); // 1.5 → 2
    expect(paiseTimes(75n, decimal('0.06'))).toBe(5n); // 4.5 → 5
    expect(paiseTimes(58n, decimal('0.06'))).toBe(3n); // 3.48 → 3
    expect(paiseTimes(59n, decimal('0.06'))).toBe(4n); // 3.54 → 4
    expect(paiseTimes(-25n, decimal('0.06'))).toBe(-2n);
  });

  test('rupees are written with two decimals, losslessly', () => {
    expect(text(rupees(56000n))).toBe('560.00');
    expect(text(rupees(5n))).toBe('0.05');
    expect(text(rupees(0n))).toBe('0.00');
    expect(text(rupees(-1234n))).toBe('-12.34');
    expect(toPaise(decimal('10.005'))).toBe(1001n);
  });

  test('decimalJson keeps the value and writes a plain number when it can', () => {
    expect(decimalJson(decimal('0.06'))).toBe(0.06);
    expect(decimalJson(decimal('10'))).toBe(10);
    expect(text(decimalJson({ units: 150n, scale: 2 }))).toBe('1.50');
    expect(decimalJson({ units: -5n, scale: 1 })).toBe(-0.5);
    expect(decimalJson({ units: 5n, scale: 3 })).toBe(0.005);
  });
});

describe('unit prices from a ChargeItemDefinition', () => {
  test('base, taxes and MRP are read; no base or two bases or another currency is unpriced', () => {
    const p = price(medicine(10.5, 0.06, 0.06, 12));
    expect(p.rate).toEqual(decimal('10.5'));
    expect(p.components.map((c) => c.type)).toEqual(['informational', 'tax', 'tax']);
    expect(unitPrice({ resourceType: 'ChargeItemDefinition', url: 'u', propertyGroup: [] })).toEqual({ unpriced: 'u: no base price' });
    const twoBases = medicine(1, 0.06, 0.06);
    (twoBases.propertyGroup as JsonObject[]).push({ priceComponent: [{ type: 'base', amount: inr(2) }] });
    expect('unpriced' in unitPrice(twoBases)).toBe(true);
    const usd = medicine(1, 0.06, 0.06);
    (((usd.propertyGroup as JsonObject[])[0].priceComponent as JsonObject[])[0].amount as JsonObject).currency = 'USD';
    expect(unitPrice(usd)).toEqual({ unpriced: expect.stringContaining('USD') });
  });

  test('a propertyGroup with applicability is not applied', () => {
    const def = medicine(10, 0.06, 0.06);
    (def.propertyGroup as JsonObject[]).unshift({
      applicability: [{ expression: '%context.quantity > 10' }],
      priceComponent: [{ type: 'base', amount: inr(8) }],
    });
    expect(price(def).rate).toEqual(decimal('10'));
  });
});

describe('lines', () => {
  test('a GST-exempt consultation of 500 INR: base only, factor 1', () => {
    const line = priceLine(
      price({ resourceType: 'ChargeItemDefinition', url: 'c', propertyGroup: [{ priceComponent: [{ type: 'base', amount: inr(500) }] }] }),
      decimal('1'),
    );
    expect(line.net).toBe(50000n);
    expect(line.tax).toBe(0n);
    const amounts = invoiceAmounts([{ chargeItem: 'ChargeItem/c', line }]);
    expect(text(amounts.lineItem)).toBe(
      '[{"sequence":1,"chargeItemReference":{"reference":"ChargeItem/c"},"priceComponent":[{"type":"base","factor":1,"amount":{"value":500.00,"currency":"INR"}}]}]',
    );
    expect(text(amounts.totalNet)).toBe('{"value":500.00,"currency":"INR"}');
    expect(text(amounts.totalGross)).toBe('{"value":500.00,"currency":"INR"}');
  });

  test('a medicine: base = rate × quantity, each tax = round(base × factor), MRP informational per line', () => {
    // 10 tablets at 12.34: base 123.40; CGST 6% = 7.404 → 7.40; SGST 6% = 7.40; MRP 15 × 10 = 150.00
    const line = priceLine(price(medicine(12.34, 0.06, 0.06, 15)), decimal('10'));
    expect(line.components.map((c) => [c.type, c.paise])).toEqual([
      ['base', 12340n],
      ['informational', 15000n],
      ['tax', 740n],
      ['tax', 740n],
    ]);
    expect(line.net).toBe(12340n);
    expect(line.tax).toBe(1480n);
    expect(line.components[0].factor).toEqual(decimal('10'));
    expect(line.components[2].factor).toEqual(decimal('0.06'));
  });

  test('half a paisa of tax rounds up, per tax component', () => {
    // rate 0.25 × 1: base 25 paise; 6% = 1.5 paise → 2 paise each
    const line = priceLine(price(medicine(0.25, 0.06, 0.06)), decimal('1'));
    expect(line.tax).toBe(4n);
    // rate 0.125 × 1 = 12.5 paise → base 13 paise (half-up); 6% of 13 = 0.78 → 1
    const l2 = priceLine(price(medicine(new LosslessNumber('0.125'), 0.06, 0.06)), decimal('1'));
    expect(l2.net).toBe(13n);
    expect(l2.tax).toBe(2n);
  });

  test('the base is rounded once from rate × quantity (not rate rounded, then multiplied)', () => {
    // 1.005 × 3 = 3.015 → 3.02 (rounding the rate first would give 1.01 × 3 = 3.03)
    const line = priceLine(price(medicine(new LosslessNumber('1.005'), 0, 0)), decimal('3'));
    expect(line.net).toBe(302n);
  });

  test('fractional and negative quantities (a credit is the exact negative)', () => {
    const p = price(medicine(12.34, 0.06, 0.06, 15));
    const half = priceLine(p, decimal('2.5')); // 30.85; tax 1.851 → 1.85 each
    expect([half.net, half.tax]).toEqual([3085n, 370n]);
    const debit = priceLine(p, decimal('3'));
    const credit = priceLine(p, decimal('-3'));
    expect(credit.net).toBe(-debit.net);
    expect(credit.tax).toBe(-debit.tax);
    expect(credit.components.map((c) => c.paise)).toEqual(debit.components.map((c) => -c.paise));
  });

  test('priceOverride replaces rate × quantity; factorOverride scales the base; taxes follow the line', () => {
    const p = price(medicine(12.34, 0.06, 0.06));
    const o = priceLine(p, decimal('10'), { priceOverride: decimal('100') });
    expect([o.net, o.tax]).toEqual([10000n, 1200n]);
    const f = priceLine(p, decimal('10'), { factorOverride: decimal('0.5') }); // 123.40 × 0.5 = 61.70
    expect([f.net, f.tax]).toEqual([6170n, 740n]); // 3.702 → 3.70 each
    const manual = priceLine(undefined, decimal('1'), { priceOverride: decimal('300') });
    expect([manual.net, manual.tax, manual.components.length]).toEqual([30000n, 0n, 1]);
  });

  test('a discount reduces the net and the taxable value', () => {
    const def = medicine(100, 0.06, 0.06);
    ((def.propertyGroup as JsonObject[])[0].priceComponent as JsonObject[]).splice(1, 0, { type: 'discount', factor: 0.1 });
    const line = priceLine(price(def), decimal('2')); // 200 − 20 = 180; 6% = 10.80 each
    expect([line.net, line.tax]).toEqual([18000n, 2160n]);
  });
});

describe('invoice totals', () => {
  const consult = priceLine(
    price({ resourceType: 'ChargeItemDefinition', url: 'c', propertyGroup: [{ priceComponent: [{ type: 'base', amount: inr(500) }] }] }),
    decimal('1'),
  );
  const med = priceLine(price(medicine(12.34, 0.06, 0.06, 15)), decimal('10'));
  const med2 = priceLine(price(medicine(0.25, 0.06, 0.06, 1)), decimal('1'));

  test('totalNet = Σ bases, totalGross = totalNet + Σ taxes, MRP excluded; totalPriceComponent by type and code', () => {
    const lines: InvoiceLine[] = [
      { chargeItem: 'ChargeItem/a', line: consult },
      { chargeItem: 'ChargeItem/b', line: med },
      { chargeItem: 'ChargeItem/c', line: med2 },
    ];
    const a = invoiceAmounts(lines);
    // net 500 + 123.40 + 0.25 = 623.65; taxes 7.40 + 7.40 + 0.02 + 0.02 = 14.84; gross 638.49
    expect(text(a.totalNet.value)).toBe('623.65');
    expect(text(a.totalGross.value)).toBe('638.49');
    expect(
      (a.totalPriceComponent ?? []).map((c) => [
        c.type,
        text((c.code as JsonObject | undefined)?.coding ?? null),
        text((c.amount as JsonObject).value),
      ]),
    ).toEqual([
      ['base', 'null', '623.65'],
      ['informational', `[{"system":"${PRICE_COMPONENT_SYSTEM}","code":"MRP"}]`, '151.00'],
      ['tax', `[{"system":"${PRICE_COMPONENT_SYSTEM}","code":"CGST"}]`, '7.42'],
      ['tax', `[{"system":"${PRICE_COMPONENT_SYSTEM}","code":"SGST"}]`, '7.42'],
    ]);
    expect(a.lineItem.map((l) => l.sequence)).toEqual([1, 2, 3]);
    expect((a.totalPriceComponent ?? []).every((c) => c.factor === undefined)).toBe(true);
  });

  test('taxes are rounded per line, then summed (not rounded on the sum)', () => {
    // three lines of 0.25: each CGST 1.5 → 2 paise, Σ 6 paise (0.75 × 6% = 4.5 paise on the sum would give 5)
    const a = invoiceAmounts([1, 2, 3].map((i) => ({ chargeItem: `ChargeItem/${i}`, line: med2 })));
    const cgst = (a.totalPriceComponent ?? []).find((c) => text(c.code) === text(taxCode('CGST')));
    expect(text((cgst?.amount as JsonObject | undefined)?.value)).toBe('0.06');
  });

  test('an unpriced line has no price components and adds nothing', () => {
    const a = invoiceAmounts([{ chargeItem: 'ChargeItem/a', line: consult }, { chargeItem: 'ChargeItem/x' }]);
    expect(a.lineItem[1]).toEqual({ sequence: 2, chargeItemReference: { reference: 'ChargeItem/x' } });
    expect(text(a.totalGross.value)).toBe('500.00');
  });

  test('an empty invoice totals 0.00', () => {
    const a = invoiceAmounts([]);
    expect(text(a.totalNet)).toBe('{"value":0.00,"currency":"INR"}');
    expect(a.totalPriceComponent).toBeUndefined(); // no empty arrays in FHIR JSON
    expect(a.lineItem).toEqual([]);
  });
});
