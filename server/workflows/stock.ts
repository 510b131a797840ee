/**
 * Dispensary stock, the pure part (HMS-DOMAIN §0 "stock item", §4.11, §5.2): the stock item's shape, the quantity
 * a MedicationRequest asks for, which stock items hold its product, FEFO over their batches, and the guard on
 * client writes of stock items. No I/O: dispensing.ts does the reads and writes.
 *
 * A stock item is a `Basic` with code `…/CodeSystem/hms-basic-type#stock-item`, `subject` → Medication (one batch:
 * `Medication.batch`), `author` → owning Organization and the extensions `stock-location` (the dispensary Location),
 * `stock-on-hand`, `stock-reserved`, `stock-reorder-level`, `stock-reorder-quantity` (valueQuantity) and
 * `stock-consumable` (valueBoolean). Available = on-hand − reserved.
 */
import { isJsonObject, numberValue, type JsonObject, type JsonValue } from '../fhir/json';
import { OperationOutcomeError, issue } from '../fhir/outcome';

export const HMS_BASE = 'https://arogya.dev/fhir';
export const STOCK_ITEM_PROFILE = `${HMS_BASE}/StructureDefinition/hms-stock-item`;
export const BASIC_TYPE_SYSTEM = `${HMS_BASE}/CodeSystem/hms-basic-type`;
export const STOCK_ITEM_CODE = 'stock-item';
const SD = `${HMS_BASE}/StructureDefinition`;
export const STOCK_EXT = {
  location: `${SD}/stock-location`,
  onHand: `${SD}/stock-on-hand`,
  reserved: `${SD}/stock-reserved`,
  reorderLevel: `${SD}/stock-reorder-level`,
  reorderQuantity: `${SD}/stock-reorder-quantity`,
  consumable: `${SD}/stock-consumable`,
} as const;

/** Stock arithmetic is done in millionths of a unit (integers), so 0.1 + 0.2 reserved never drifts. */
const SCALE = 1_000_000;
export function toUnits(n: number): number {
  return Math.round(n * SCALE);
}
export function fromUnits(u: number): number {
  return u / SCALE;
}

function arr(v: JsonValue | undefined): JsonValue[] {
  return Array.isArray(v) ? v : [];
}

function objects(v: JsonValue | undefined): JsonObject[] {
  return arr(v).filter(isJsonObject);
}

export function isStockItem(resource: JsonObject | undefined): boolean {
  if (resource?.resourceType !== 'Basic' || !isJsonObject(resource.code)) return false;
  return objects(resource.code.coding).some((c) => c.system === BASIC_TYPE_SYSTEM && c.code === STOCK_ITEM_CODE);
}

function extension(resource: JsonObject, url: string): JsonObject | undefined {
  return objects(resource.extension).find((e) => e.url === url);
}

/** The value of a Quantity extension (undefined when absent or not a number). */
export function stockQuantity(resource: JsonObject, url: string): number | undefined {
  const e = extension(resource, url);
  return e && isJsonObject(e.valueQuantity) ? numberValue(e.valueQuantity.value) : undefined;
}

/** The unit (unit/system/code) of the item's on-hand quantity, to write other quantities in the same unit. */
export function stockUnit(resource: JsonObject): JsonObject {
  const q = extension(resource, STOCK_EXT.onHand)?.valueQuantity;
  if (!isJsonObject(q)) return {};
  const out: JsonObject = {};
  for (const k of ['unit', 'system', 'code'] as const) if (typeof q[k] === 'string') out[k] = q[k];
  return out;
}

/** A copy of a stock item with a Quantity extension set to `value` (in the item's unit), added when missing. */
export function withStockQuantity(resource: JsonObject, url: string, value: number): JsonObject {
  const unit = stockUnit(resource);
  const next: JsonObject = { url, valueQuantity: { value, ...unit } };
  const exts = objects(resource.extension);
  const at = exts.findIndex((e) => e.url === url);
  if (at >= 0) {
    const old = exts[at].valueQuantity;
    next.valueQuantity = { ...(isJsonObject(old) ? old : unit), value };
  }
  const extensionList = at >= 0 ? exts.map((e, i) => (i === at ? next : e)) : [...exts, next];
  return { ...resource, extension: extensionList };
}

export function onHand(item: JsonObject): number {
  return stockQuantity(item, STOCK_EXT.onHand) ?? 0;
}
export function reserved(item: JsonObject): number {
  return stockQuantity(item, STOCK_EXT.reserved) ?? 0;
}
/** On-hand − reserved (never below 0). */
export function available(item: JsonObject): number {
  return Math.max(0, fromUnits(toUnits(onHand(item)) - toUnits(reserved(item))));
}

export function referenceOf(v: JsonValue | undefined): string | undefined {
  return isJsonObject(v) && typeof v.reference === 'string' ? v.reference : undefined;
}

export function stockLocation(item: JsonObject): string | undefined {
  return referenceOf(extension(item, STOCK_EXT.location)?.valueReference);
}

// --- the quantity asked for -------------------------------------------------------------------------------------

export interface RequestedQuantity {
  value: number;
  /** unit/system/code of the quantity as the prescription gave it (none when computed or defaulted). */
  unit: JsonObject;
  source: 'quantity' | 'timing' | 'default';
  /** Explanation of a computed or defaulted quantity, for the dispense's note. */
  note?: string;
}

/** Days in one UCUM time unit of Timing.repeat.periodUnit / Duration. */
const DAYS: Record<string, number> = { s: 1 / 86400, min: 1 / 1440, h: 1 / 24, d: 1, wk: 7, mo: 30, a: 365 };
const DURATION_UNITS: Record<string, string> = {
  second: 's',
  seconds: 's',
  minute: 'min',
  minutes: 'min',
  hour: 'h',
  hours: 'h',
  day: 'd',
  days: 'd',
  week: 'wk',
  weeks: 'wk',
  month: 'mo',
  months: 'mo',
  year: 'a',
  years: 'a',
};

function durationDays(d: JsonValue | undefined): number | undefined {
  if (!isJsonObject(d)) return undefined;
  const value = numberValue(d.value);
  const code = typeof d.code === 'string' ? d.code : typeof d.unit === 'string' ? (DURATION_UNITS[d.unit.toLowerCase()] ?? d.unit) : undefined;
  if (value === undefined || !code || DAYS[code] === undefined) return undefined;
  return value * DAYS[code];
}

/** Units one dosage instruction uses per day: dose × frequency / period (undefined when its timing says nothing). */
function unitsPerDay(dosage: JsonObject): number | undefined {
  const timing = dosage.timing;
  const repeat = isJsonObject(timing) && isJsonObject(timing.repeat) ? timing.repeat : undefined;
  if (!repeat) return undefined;
  const frequency = numberValue(repeat.frequencyMax) ?? numberValue(repeat.frequency) ?? 1;
  const period = numberValue(repeat.period);
  const unit = typeof repeat.periodUnit === 'string' ? DAYS[repeat.periodUnit] : undefined;
  if (period === undefined || period <= 0 || unit === undefined) return undefined;
  const rate = objects(dosage.doseAndRate)[0];
  const dose =
    (rate && isJsonObject(rate.doseQuantity) ? numberValue(rate.doseQuantity.value) : undefined) ??
    (rate && isJsonObject(rate.doseRange) && isJsonObject(rate.doseRange.high) ? numberValue(rate.doseRange.high.value) : undefined) ??
    1;
  return (dose * frequency) / (period * unit);
}

/**
 * The quantity to dispense for a MedicationRequest (HMS-DOMAIN §5.2 step 2): `dispenseRequest.quantity`; else
 * Σ over its dosage instructions with a timing of dose × frequency / period × `expectedSupplyDuration`, rounded up
 * to whole units; else 1 unit, with a note saying so.
 */
export function requestedQuantity(request: JsonObject): RequestedQuantity {
  const dr = isJsonObject(request.dispenseRequest) ? request.dispenseRequest : {};
  if (isJsonObject(dr.quantity)) {
    const value = numberValue(dr.quantity.value);
    if (value !== undefined && value > 0) {
      const unit: JsonObject = {};
      for (const k of ['unit', 'system', 'code'] as const) if (typeof dr.quantity[k] === 'string') unit[k] = dr.quantity[k];
      return { value, unit, source: 'quantity' };
    }
  }
  const days = durationDays(dr.expectedSupplyDuration);
  const perDay = objects(request.dosageInstruction)
    .map(unitsPerDay)
    .filter((n): n is number => n !== undefined);
  if (days !== undefined && days > 0 && perDay.length) {
    const value = Math.ceil(fromUnits(toUnits(perDay.reduce((a, b) => a + b, 0) * days)));
    if (value > 0) {
      return {
        value,
        unit: {},
        source: 'timing',
        note: `Quantity ${value} computed from the dosage timing and the expected supply duration (the prescription gives no dispenseRequest.quantity)`,
      };
    }
  }
  return {
    value: 1,
    unit: {},
    source: 'default',
    note: 'Quantity defaulted to 1 unit: the prescription gives no dispenseRequest.quantity and no timing with an expected supply duration',
  };
}

// --- product matching and FEFO ----------------------------------------------------------------------------------

function codings(concept: JsonValue | undefined): { system: string; code: string }[] {
  if (!isJsonObject(concept)) return [];
  return objects(concept.coding).flatMap((c) =>
    typeof c.system === 'string' && typeof c.code === 'string' ? [{ system: c.system, code: c.code }] : [],
  );
}

function text(concept: JsonValue | undefined): string | undefined {
  if (!isJsonObject(concept) || typeof concept.text !== 'string') return undefined;
  const t = concept.text.trim().toLowerCase();
  return t === '' ? undefined : t;
}

/** How a Medication matches a prescribed product: by a shared coding (system|code), by text, or not at all. */
export function productMatch(concept: JsonValue | undefined, medication: JsonObject): 'coding' | 'text' | undefined {
  const wanted = codings(concept);
  const have = codings(medication.code);
  if (wanted.some((w) => have.some((h) => h.system === w.system && h.code === w.code))) return 'coding';
  const t = text(concept);
  if (t !== undefined && t === text(medication.code)) return 'text';
  return undefined;
}

/** A stock item with the Medication (batch) it holds. */
export interface StockLine {
  item: JsonObject;
  medication: JsonObject;
}

/**
 * The stock lines of a prescribed product (§5.2 step 3): those whose Medication shares a coding with the concept;
 * when none does, those whose `Medication.code.text` equals the concept's text (case-insensitive).
 */
export function matchingLines(concept: JsonValue | undefined, lines: StockLine[]): StockLine[] {
  const byCoding = lines.filter((l) => productMatch(concept, l.medication) === 'coding');
  if (byCoding.length) return byCoding;
  return lines.filter((l) => productMatch(concept, l.medication) === 'text');
}

/** The batch expiry of a Medication (its date part, YYYY-MM-DD), when it has one. */
export function expiryDate(medication: JsonObject): string | undefined {
  const batch = medication.batch;
  if (!isJsonObject(batch) || typeof batch.expirationDate !== 'string') return undefined;
  return batch.expirationDate.slice(0, 10);
}

/** Expired: its expiry day is before `now`'s day (a batch expiring today is still dispensed today). */
export function isExpired(medication: JsonObject, now: string): boolean {
  const e = expiryDate(medication);
  return e !== undefined && e.length >= 4 && padDate(e) < now.slice(0, 10);
}

/** `2027` → `2027-12-31`, `2027-03` → `2027-03-31`-ish (end of month approximated as day 31 for ordering). */
function padDate(d: string): string {
  if (d.length === 4) return `${d}-12-31`;
  if (d.length === 7) return `${d}-31`;
  return d;
}

/** Non-expired lines, first expiry first (FEFO); lines without an expiry last; ties by stock item id. */
export function fefo(lines: StockLine[], now: string): StockLine[] {
  return lines
    .filter((l) => !isExpired(l.medication, now))
    .sort((a, b) => {
      const ea = expiryDate(a.medication);
      const eb = expiryDate(b.medication);
      if (ea !== eb) {
        if (ea === undefined) return 1;
        if (eb === undefined) return -1;
        return padDate(ea) < padDate(eb) ? -1 : 1;
      }
      return String(a.item.id) < String(b.item.id) ? -1 : String(a.item.id) > String(b.item.id) ? 1 : 0;
    });
}

export interface Allocation {
  line: StockLine;
  quantity: number;
}

/**
 * Takes `quantity` from `lines` (already in FEFO order), earliest expiry first. Returns the allocations when the
 * lines hold enough, else the shortfall and what is available in all.
 */
export function allocate(
  lines: StockLine[],
  quantity: number,
): { ok: true; allocations: Allocation[] } | { ok: false; available: number; shortfall: number } {
  let left = toUnits(quantity);
  const allocations: Allocation[] = [];
  let total = 0;
  for (const line of lines) {
    const a = toUnits(available(line.item));
    total += a;
    if (left <= 0 || a <= 0) continue;
    const take = Math.min(a, left);
    allocations.push({ line, quantity: fromUnits(take) });
    left -= take;
  }
  if (left > 0) return { ok: false, available: fromUnits(total), shortfall: fromUnits(left) };
  return { ok: true, allocations };
}

/** What a SupplyRequest raised for a shortfall asks for: max(shortfall, the largest reorder quantity of the lines). */
export function supplyQuantity(lines: StockLine[], shortfall: number): number {
  const reorder = Math.max(0, ...lines.map((l) => stockQuantity(l.item, STOCK_EXT.reorderQuantity) ?? 0));
  return Math.max(shortfall, reorder);
}

// --- the write guard --------------------------------------------------------------------------------------------

/**
 * The guard on client writes of stock items (HMS-DOMAIN §0): `stock-reserved` is server-owned, and quantities are
 * corrected only with optimistic locking. Server writes (workflows, jobs: a system caller) are not checked.
 *
 * - create (POST, or a PUT that creates): `stock-reserved`, if present, must be 0 → else 422;
 * - update or patch of an existing stock item (or of a Basic into one): `If-Match` is required → else 428 (a stale
 *   one is the plan's 412); `stock-reserved` must stay what it is → else 422.
 */
export function checkStockItemWrite(write: {
  current: JsonObject | undefined;
  next: JsonObject | undefined;
  ifMatch: boolean;
  ifMatchHeader: string;
}): void {
  const { current, next } = write;
  if (!isStockItem(current) && !isStockItem(next)) return;
  if (!current) {
    const r = next ? toUnits(reserved(next)) : 0;
    if (r !== 0) {
      throw new OperationOutcomeError(422, [
        issue('error', 'business-rule', 'stock-reserved is maintained by the server: a stock item is created with none (or 0)', 'Basic.extension'),
      ]);
    }
    return;
  }
  if (!write.ifMatch) {
    throw new OperationOutcomeError(428, [
      issue(
        'error',
        'required',
        `A change of a stock item needs ${write.ifMatchHeader} with its current version (its quantities are changed concurrently by dispensing)`,
      ),
    ]);
  }
  if (next && toUnits(reserved(next)) !== toUnits(reserved(current))) {
    throw new OperationOutcomeError(422, [
      issue(
        'error',
        'business-rule',
        `stock-reserved is maintained by the server (currently ${reserved(current)}): a client may not change it`,
        'Basic.extension',
      ),
    ]);
  }
}
