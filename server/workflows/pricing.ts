/**
 * Billing arithmetic and price resolution (HMS-DOMAIN §0 "prices", "price components"; §5.1 A3): pure, no I/O.
 *
 * Money is computed in integer paise (bigint) from the exact decimal text of the resources (FHIR decimals may
 * arrive as LosslessNumbers), never in floating point. Rounding is half-up to whole paise, symmetric for negative
 * amounts (half away from zero), so a credit line is the exact negative of the line it reverses.
 *
 * A line (one ChargeItem) from its unit price (a ChargeItemDefinition's priceComponents):
 * - base = round(rate × quantity), written with `factor` = quantity (always, also for 1);
 * - surcharge / deduction / discount: `amount` per unit × quantity, or `factor` × base;
 * - tax (CGST, SGST, …) = round(line net × factor), line net = base + surcharge − deduction − discount
 *   (= base when there is none of those, which is §0's rule);
 * - informational (MRP) = round(amount × quantity): on the line and in totalPriceComponent, never in the totals.
 * totalNet = Σ line nets; totalGross = totalNet + Σ taxes; totalPriceComponent sums by type and code.
 */
import { type JsonObject, type JsonValue, LosslessNumber, isJsonObject, isLosslessNumber } from '../fhir/json';

export const BASE = 'https://arogya.dev/fhir';
export const PRICE_COMPONENT_SYSTEM = `${BASE}/CodeSystem/price-component`;
export const CURRENCY = 'INR';

/** An exact decimal: `units` × 10^−scale. */
export interface Decimal {
  units: bigint;
  scale: number;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** The exact value of a FHIR decimal (a JSON number, a LosslessNumber, or decimal text); undefined if not one. */
export function parseDecimal(v: JsonValue | undefined): Decimal | undefined {
  let text: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    text = String(v); // a number here survived the lossless parser's round trip: its text is what was written
  } else if (isLosslessNumber(v)) text = (v as LosslessNumber).value;
  else if (typeof v === 'string') text = v;
  else return undefined;
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const frac = m[3] ?? '';
  let units = BigInt(`${m[2]}${frac}`);
  let scale = frac.length - Number(m[4] ?? 0);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units: m[1] === '-' ? -units : units, scale };
}

export function decimal(text: string): Decimal {
  const d = parseDecimal(text);
  if (!d) throw new Error(`not a decimal: ${text}`);
  return d;
}

export function multiply(a: Decimal, b: Decimal): Decimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** `d` rounded half-up (away from zero on a tie) to `digits` decimals, as an integer count of 10^−digits. */
export function roundTo(d: Decimal, digits: number): bigint {
  if (d.scale <= digits) return d.units * 10n ** BigInt(digits - d.scale);
  const divisor = 10n ** BigInt(d.scale - digits);
  const negative = d.units < 0n;
  const abs = negative ? -d.units : d.units;
  let q = abs / divisor;
  if ((abs % divisor) * 2n >= divisor) q += 1n;
  return negative ? -q : q;
}

/** Rupees (a decimal) to whole paise, half-up. */
export function toPaise(rupees: Decimal): bigint {
  return roundTo(rupees, 2);
}

/** Paise × a decimal factor, rounded half-up to whole paise. */
export function paiseTimes(paise: bigint, factor: Decimal): bigint {
  return roundTo(multiply({ units: paise, scale: 0 }, factor), 0);
}

/** Paise as a FHIR decimal in rupees with exactly two decimals (`560.00`), kept lossless. */
export function rupees(paise: bigint): LosslessNumber {
  const negative = paise < 0n;
  const abs = negative ? -paise : paise;
  return new LosslessNumber(`${negative ? '-' : ''}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`);
}

export function money(paise: bigint): JsonObject {
  return { value: rupees(paise), currency: CURRENCY };
}

/** A decimal as a FHIR JSON number (a plain number when its text survives, else lossless). */
export function decimalJson(d: Decimal): JsonValue {
  const negative = d.units < 0n;
  const digits = (negative ? -d.units : d.units).toString().padStart(d.scale + 1, '0');
  const text = `${negative ? '-' : ''}${d.scale === 0 ? digits : `${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`}`;
  return String(Number(text)) === text ? Number(text) : new LosslessNumber(text);
}

// ---------------------------------------------------------------------------------------------------------------
// Unit prices from a ChargeItemDefinition

export type ComponentType = 'base' | 'surcharge' | 'deduction' | 'discount' | 'tax' | 'informational';
const TYPES: readonly ComponentType[] = ['base', 'surcharge', 'deduction', 'discount', 'tax', 'informational'];
/** The order of components on a line and in totalPriceComponent (§5.1 A4: base, MRP, discounts, taxes). */
const ORDER: readonly ComponentType[] = ['base', 'surcharge', 'deduction', 'discount', 'informational', 'tax'];

export interface UnitComponent {
  type: ComponentType;
  /** The component's code (CodeableConcept) as the definition gave it (taxes: price-component#CGST / #SGST). */
  code?: JsonObject;
  /** Per-unit amount in rupees (base, informational; optional for the others). */
  amount?: Decimal;
  /** A factor applied to the line (tax rate; a discount's fraction) when no amount is given. */
  factor?: Decimal;
}

export interface UnitPrice {
  /** The definition's canonical url (for ChargeItem.definitionCanonical). */
  url: string;
  /** The base rate per unit, in rupees. */
  rate: Decimal;
  components: UnitComponent[];
}

/** Why a definition gives no price (for the note), or the price. */
export type PriceResult = { price: UnitPrice } | { unpriced: string };

/**
 * The unit price a ChargeItemDefinition states: its propertyGroups without `applicability` (conditional groups
 * are not evaluated: documented), which must hold exactly one `base` amount in INR.
 */
export function unitPrice(definition: JsonObject): PriceResult {
  const url = typeof definition.url === 'string' ? definition.url : `ChargeItemDefinition/${String(definition.id)}`;
  const components: UnitComponent[] = [];
  let rate: Decimal | undefined;
  for (const group of asArray(definition.propertyGroup)) {
    if (!isJsonObject(group) || asArray(group.applicability).length > 0) continue;
    for (const pc of asArray(group.priceComponent)) {
      if (!isJsonObject(pc) || !TYPES.includes(pc.type as ComponentType)) continue;
      const type = pc.type as ComponentType;
      const amount = isJsonObject(pc.amount) ? pc.amount : undefined;
      if (amount && amount.currency !== undefined && amount.currency !== CURRENCY) {
        return { unpriced: `${url}: currency ${String(amount.currency)} is not ${CURRENCY}` };
      }
      const c: UnitComponent = { type, code: isJsonObject(pc.code) ? pc.code : undefined };
      if (amount) c.amount = parseDecimal(amount.value);
      c.factor = parseDecimal(pc.factor);
      if (type === 'base') {
        if (rate !== undefined || c.amount === undefined) return { unpriced: `${url}: needs exactly one base amount` };
        rate = c.amount;
        continue;
      }
      if (c.amount === undefined && c.factor === undefined) continue;
      if (type === 'informational' && c.amount === undefined) continue;
      components.push(c);
    }
  }
  if (rate === undefined) return { unpriced: `${url}: no base price` };
  return { price: { url, rate, components } };
}

// ---------------------------------------------------------------------------------------------------------------
// Lines and totals

export interface LineComponent {
  type: ComponentType;
  code?: JsonObject;
  factor?: Decimal;
  paise: bigint;
}

export interface PricedLine {
  components: LineComponent[];
  /** base + surcharge − deduction − discount, in paise. */
  net: bigint;
  /** Σ taxes, in paise. */
  tax: bigint;
}

export interface LineOverride {
  /** ChargeItem.priceOverride: the line's price before tax (instead of rate × quantity). */
  priceOverride?: Decimal;
  /** ChargeItem.factorOverride: multiplies the line's base. */
  factorOverride?: Decimal;
}

/** One line: `price` (may be absent when priceOverride gives the base) for `quantity` units. */
export function priceLine(price: UnitPrice | undefined, quantity: Decimal, override: LineOverride = {}): PricedLine {
  let base: bigint;
  if (override.priceOverride) base = toPaise(override.priceOverride);
  else if (price) base = toPaise(multiply(price.rate, quantity));
  else throw new Error('priceLine needs a price or a priceOverride');
  if (override.factorOverride) base = paiseTimes(base, override.factorOverride);
  const components: LineComponent[] = [{ type: 'base', factor: quantity, paise: base }];
  let net = base;
  const adjust = (c: UnitComponent): bigint =>
    c.amount !== undefined ? toPaise(multiply(c.amount, quantity)) : paiseTimes(base, c.factor as Decimal);
  for (const c of price?.components ?? []) {
    if (c.type === 'surcharge' || c.type === 'deduction' || c.type === 'discount') {
      const paise = adjust(c);
      components.push({ type: c.type, code: c.code, factor: c.amount !== undefined ? quantity : c.factor, paise });
      net += c.type === 'surcharge' ? paise : -paise;
    }
  }
  for (const c of price?.components ?? []) {
    if (c.type === 'informational') {
      components.push({ type: c.type, code: c.code ?? MRP_CODE, factor: quantity, paise: toPaise(multiply(c.amount as Decimal, quantity)) });
    }
  }
  let tax = 0n;
  for (const c of price?.components ?? []) {
    if (c.type !== 'tax') continue;
    const paise = c.factor !== undefined ? paiseTimes(net, c.factor) : toPaise(multiply(c.amount as Decimal, quantity));
    components.push({ type: 'tax', code: c.code, factor: c.factor ?? quantity, paise });
    tax += paise;
  }
  return { components, net, tax };
}

export const MRP_CODE: JsonObject = { coding: [{ system: PRICE_COMPONENT_SYSTEM, code: 'MRP', display: 'Maximum retail price' }] };

function componentJson(c: LineComponent): JsonObject {
  const out: JsonObject = { type: c.type };
  if (c.code) out.code = c.code;
  if (c.factor) out.factor = decimalJson(c.factor);
  out.amount = money(c.paise);
  return out;
}

/** The key components are summed under in totalPriceComponent: type and the code's first coding (or text). */
function componentKey(c: LineComponent): string {
  const coding = asArray(c.code?.coding).find(isJsonObject);
  const code = coding ? `${String(coding.system ?? '')}|${String(coding.code ?? '')}` : String(c.code?.text ?? '');
  return `${c.type} ${code}`;
}

export interface InvoiceLine {
  /** `ChargeItem/{id}` */
  chargeItem: string;
  /** undefined: unpriced (a line without price components). */
  line?: PricedLine;
}

export interface InvoiceAmounts {
  lineItem: JsonObject[];
  /** Absent when no line is priced (FHIR JSON has no empty arrays). */
  totalPriceComponent?: JsonObject[];
  totalNet: JsonObject;
  totalGross: JsonObject;
}

/** Invoice.lineItem (sequence 1…), totalPriceComponent (by type and code, in order of first appearance), totals. */
export function invoiceAmounts(lines: readonly InvoiceLine[]): InvoiceAmounts {
  const totals = new Map<string, LineComponent>();
  let net = 0n;
  let tax = 0n;
  const lineItem = lines.map((l, i) => {
    const item: JsonObject = { sequence: i + 1, chargeItemReference: { reference: l.chargeItem } };
    if (l.line) {
      item.priceComponent = l.line.components.map(componentJson);
      net += l.line.net;
      tax += l.line.tax;
      for (const c of l.line.components) {
        const key = componentKey(c);
        const sum = totals.get(key);
        if (sum) sum.paise += c.paise;
        else totals.set(key, { type: c.type, code: c.code, paise: c.paise });
      }
    }
    return item;
  });
  const order = (c: LineComponent): number => ORDER.indexOf(c.type);
  const totalPriceComponent = [...totals.values()]
    .map((c, i) => ({ c, i }))
    .sort((a, b) => order(a.c) - order(b.c) || a.i - b.i)
    .map(({ c }) => componentJson(c));
  return {
    lineItem,
    ...(totalPriceComponent.length > 0 ? { totalPriceComponent } : {}),
    totalNet: money(net),
    totalGross: money(net + tax),
  };
}

export function asArray(v: JsonValue | undefined): JsonValue[] {
  return Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
}
