/**
 * Workflow B, dispensary preparation and stock (HMS-DOMAIN.md §0, §5.2, §5.3), as the workflow runner
 * (runner.ts) calls it, inside the transaction of the write that set it off.
 *
 * Per dispensable MedicationRequest, once (business key `…/sid/dispense-key|MedicationRequest/{id}`):
 * - the dispensary: the Organization of `dispenseRequest.performer`, else the visit's `serviceProvider` → its
 *   first active Location of type v3-RoleCode PHARM/OUTPHARM managed by it; none → `declined` (frr04) + a note;
 * - the quantity: stock.ts requestedQuantity; the product: stock items at that Location whose Medication matches
 *   by coding, else by text; FEFO over their unexpired batches;
 * - enough → `preparation`, the stock items' `stock-reserved` raised (rows locked: the compare-and-swap);
 *   stocked but short → `on-hold` (outofstock) and a SupplyRequest (`supply-key|MedicationDispense/{id}`) for
 *   max(shortfall, reorder quantity); not stocked → `declined` (frr04). With AROGYA_ALLOW_PARTIAL the available
 *   part is prepared (`#part1`) and the rest held (`#part2`).
 *
 * One dispense per prescription line (the key says so): when it draws on several batches, its medication is the
 * product's CodeableConcept, and each batch drawn on is an extension `…/StructureDefinition/dispense-batch`
 * (medication, stock item, quantity) plus a line of `note`; from one batch it is `medicationReference` → that batch.
 *
 * What each dispense holds of which stock item lives in the `dispense_stock` table (reserved, consumed), written
 * in the same transaction as the stock items, so consuming, releasing and returning are each applied once.
 */
import { isJsonObject, numberValue, type JsonObject, type JsonValue } from '../fhir/json';
import { SID, type WorkflowContext } from './context';
import {
  allocate,
  BASIC_TYPE_SYSTEM,
  expiryDate,
  fefo,
  fromUnits,
  HMS_BASE,
  onHand,
  productMatch,
  referenceOf,
  requestedQuantity,
  reserved,
  STOCK_EXT,
  STOCK_ITEM_CODE,
  STOCK_ITEM_PROFILE,
  stockQuantity,
  stockUnit,
  supplyQuantity,
  toUnits,
  withStockQuantity,
  type Allocation,
  type StockLine,
} from './stock';

export { checkStockItemWrite } from './stock';

export interface DispensingOptions {
  /** AROGYA_DISPENSE_ON: dispense at the visit's conclusion, or as soon as a prescription is active. */
  dispenseOn: 'conclusion' | 'request';
  /** AROGYA_ALLOW_PARTIAL */
  allowPartial: boolean;
}

export const DISPENSE_KEY = `${SID}/dispense-key`;
export const SUPPLY_KEY = `${SID}/supply-key`;
export const STATUS_REASON = 'http://terminology.hl7.org/CodeSystem/medicationdispense-status-reason';
export const DISPENSE_BATCH = `${HMS_BASE}/StructureDefinition/dispense-batch`;
const ROLE_CODE = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';
const DISPENSABLE_INTENTS = new Set(['order', 'original-order', 'instance-order']);
/** Statuses in which a dispense holds a reservation. */
const HOLDING = new Set(['preparation', 'in-progress']);
/** Statuses that end a dispense short of handing it over. */
const ENDED = new Set(['cancelled', 'declined', 'stopped', 'entered-in-error']);

const REASON = {
  notStocked: { coding: [{ system: STATUS_REASON, code: 'frr04', display: 'Product unavailable' }] },
  outOfStock: { coding: [{ system: STATUS_REASON, code: 'outofstock', display: 'Drug not available - out of stock' }] },
};

// --- small helpers ----------------------------------------------------------------------------------------------

function refId(ref: JsonValue | undefined, type: string): string | undefined {
  const r = referenceOf(ref);
  if (!r) return undefined;
  const m = /^(?:.*\/)?([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(r);
  return m && m[1] === type ? m[2] : undefined;
}

function status(r: JsonObject | undefined): string | undefined {
  return typeof r?.status === 'string' ? r.status : undefined;
}

function keyOf(dispense: JsonObject): string | undefined {
  const ids = Array.isArray(dispense.identifier) ? dispense.identifier : [];
  const k = ids.find((i) => isJsonObject(i) && i.system === DISPENSE_KEY);
  return isJsonObject(k) && typeof k.value === 'string' ? k.value : undefined;
}

function quantityValue(q: JsonValue | undefined): number | undefined {
  return isJsonObject(q) ? numberValue(q.value) : undefined;
}

function quantity(value: number, unit: JsonObject): JsonObject {
  return { value, ...unit };
}

/** Requests of one run share reads of Medications and Locations. */
class Lookups {
  private readonly cache = new Map<string, Promise<JsonObject | undefined>>();
  constructor(readonly ctx: WorkflowContext) {}
  read(type: string, id: string): Promise<JsonObject | undefined> {
    const k = `${type}/${id}`;
    let p = this.cache.get(k);
    if (!p) {
      p = this.ctx.read(type, id);
      this.cache.set(k, p);
    }
    return p;
  }
}

// --- dispensary, product, stock ---------------------------------------------------------------------------------

interface Dispensary {
  /** The Organization that dispenses (performer, or the visit's service provider). */
  organization?: string;
  location?: JsonObject;
}

async function dispensaryFor(ctx: WorkflowContext, request: JsonObject, encounter: JsonObject | undefined): Promise<Dispensary> {
  const dr = isJsonObject(request.dispenseRequest) ? request.dispenseRequest : {};
  const organization = refId(dr.performer, 'Organization') ?? refId(encounter?.serviceProvider, 'Organization');
  if (!organization) return {};
  const types = ['PHARM', 'OUTPHARM'].map((c) => `${ROLE_CODE}|${c}`).join(',');
  const locations = (await ctx.search('Location', `organization=Organization/${organization}&type=${encodeURIComponent(types)}`))
    .filter((l) => l.status === undefined || l.status === 'active')
    .sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
  return { organization, location: locations[0] };
}

/** The product prescribed, as a CodeableConcept (a referenced Medication's code). */
async function productOf(look: Lookups, request: JsonObject): Promise<JsonObject | undefined> {
  if (isJsonObject(request.medicationCodeableConcept)) return request.medicationCodeableConcept;
  const medId = refId(request.medicationReference, 'Medication');
  const med = medId ? await look.read('Medication', medId) : undefined;
  return med && isJsonObject(med.code) ? med.code : undefined;
}

function describe(concept: JsonValue | undefined): string {
  if (!isJsonObject(concept)) return 'the prescribed product';
  if (typeof concept.text === 'string' && concept.text.trim()) return concept.text.trim();
  const c = Array.isArray(concept.coding) ? concept.coding.find(isJsonObject) : undefined;
  return (c && (typeof c.display === 'string' ? c.display : typeof c.code === 'string' ? c.code : undefined)) ?? 'the prescribed product';
}

function codingTokens(concept: JsonValue | undefined): string[] {
  if (!isJsonObject(concept) || !Array.isArray(concept.coding)) return [];
  return concept.coding.flatMap((c) =>
    isJsonObject(c) && typeof c.system === 'string' && typeof c.code === 'string' ? [`${c.system}|${c.code}`] : [],
  );
}

function textOf(concept: JsonValue | undefined): string | undefined {
  return isJsonObject(concept) && typeof concept.text === 'string' && concept.text.trim() ? concept.text.trim() : undefined;
}

const STOCK_ITEMS = `code=${encodeURIComponent(`${BASIC_TYPE_SYSTEM}|${STOCK_ITEM_CODE}`)}`;

/** The stock items at a Location holding any of `medications` (searched 100 subjects at a time). */
async function stockOfMedications(look: Lookups, locationId: string, medications: JsonObject[]): Promise<StockLine[]> {
  const byId = new Map(medications.map((m) => [String(m.id), m]));
  const ids = [...byId.keys()];
  const lines: StockLine[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const subjects = ids.slice(i, i + 100).map((id) => `Medication/${id}`);
    for (const item of await look.ctx.search('Basic', `${STOCK_ITEMS}&stock-location=Location/${locationId}&subject=${subjects.join(',')}`)) {
      const medication = byId.get(refId(item.subject, 'Medication') ?? '');
      if (medication) lines.push({ item, medication });
    }
  }
  return lines;
}

/**
 * The stock lines of a product at a Location (HMS-DOMAIN §5.2 step 3): Medications sharing a coding with the
 * concept, else Medications whose `code.text` equals its text (case-insensitive) — found by search, so only the
 * product's stock items are read, however large the dispensary.
 */
async function productLines(look: Lookups, locationId: string, concept: JsonValue | undefined): Promise<StockLine[]> {
  const codes = codingTokens(concept);
  if (codes.length) {
    const meds = (await look.ctx.search('Medication', `code=${codes.map(encodeURIComponent).join(',')}`)).filter(
      (m) => productMatch(concept, m) === 'coding',
    );
    const lines = meds.length ? await stockOfMedications(look, locationId, meds) : [];
    if (lines.length) return lines;
  }
  const text = textOf(concept);
  if (!text) return [];
  const meds = (await look.ctx.search('Medication', `code:text=${encodeURIComponent(text)}`)).filter((m) => productMatch({ text }, m) === 'text');
  return meds.length ? stockOfMedications(look, locationId, meds) : [];
}

/**
 * The stock lines of a product at a Location in FEFO order, each stock item locked (SELECT … FOR UPDATE, in id
 * order so concurrent runs never deadlock) and re-read: what `allocate` then computes stays true until commit.
 */
async function lockedLines(look: Lookups, lines: StockLine[]): Promise<StockLine[]> {
  const byId = [...lines].sort((a, b) => (String(a.item.id) < String(b.item.id) ? -1 : 1));
  const fresh = new Map<string, JsonObject>();
  for (const l of byId) {
    const item = await look.ctx.readForUpdate('Basic', String(l.item.id));
    if (item) fresh.set(String(l.item.id), item);
  }
  return fefo(
    lines.flatMap((l) => (fresh.has(String(l.item.id)) ? [{ item: fresh.get(String(l.item.id))!, medication: l.medication }] : [])),
    look.ctx.now,
  );
}

// --- the dispense_stock ledger ----------------------------------------------------------------------------------

async function reserve(ctx: WorkflowContext, dispenseId: string, allocations: Allocation[]): Promise<void> {
  for (const a of allocations) {
    const item = a.line.item; // locked by lockedLines
    await ctx.update(withStockQuantity(item, STOCK_EXT.reserved, fromUnits(toUnits(reserved(item)) + toUnits(a.quantity))));
    await ctx.client.query(
      `INSERT INTO dispense_stock (dispense_id, stock_item_id, reserved) VALUES ($1, $2, $3)
       ON CONFLICT (dispense_id, stock_item_id) DO UPDATE SET reserved = dispense_stock.reserved + EXCLUDED.reserved, updated = now()`,
      [dispenseId, String(item.id), String(a.quantity)],
    );
  }
}

type Movement = 'release' | 'consume' | 'return';

/**
 * Moves what a dispense holds: `release` gives its reservation back, `consume` turns it into stock handed over
 * (on-hand and reserved both fall), `return` puts what was handed over back on hand (entered-in-error). Each row
 * is zeroed as it is applied, so a second call does nothing.
 */
async function move(ctx: WorkflowContext, dispenseId: string, movement: Movement): Promise<number> {
  const column = movement === 'return' ? 'consumed' : 'reserved';
  const { rows } = await ctx.client.query<{ stock_item_id: string; qty: string }>(
    `SELECT stock_item_id, ${column}::text AS qty FROM dispense_stock WHERE dispense_id = $1 AND ${column} > 0 ORDER BY stock_item_id FOR UPDATE`,
    [dispenseId],
  );
  let moved = 0;
  for (const row of rows) {
    const q = toUnits(Number(row.qty));
    const item = await ctx.readForUpdate('Basic', row.stock_item_id);
    if (item) {
      let next = item;
      if (movement !== 'return') next = withStockQuantity(next, STOCK_EXT.reserved, fromUnits(Math.max(0, toUnits(reserved(item)) - q)));
      if (movement === 'consume') next = withStockQuantity(next, STOCK_EXT.onHand, fromUnits(Math.max(0, toUnits(onHand(item)) - q)));
      if (movement === 'return') next = withStockQuantity(next, STOCK_EXT.onHand, fromUnits(toUnits(onHand(item)) + q));
      await ctx.update(next);
    }
    await ctx.client.query(
      movement === 'consume'
        ? 'UPDATE dispense_stock SET consumed = consumed + reserved, reserved = 0, updated = now() WHERE dispense_id = $1 AND stock_item_id = $2'
        : `UPDATE dispense_stock SET ${column} = 0, updated = now() WHERE dispense_id = $1 AND stock_item_id = $2`,
      [dispenseId, row.stock_item_id],
    );
    moved += q;
  }
  return fromUnits(moved);
}

// --- building dispenses -----------------------------------------------------------------------------------------

interface Plan {
  request: JsonObject;
  encounter?: JsonObject;
  product?: JsonObject;
  dispensary: Dispensary;
}

/** The dispense's medication and batch record for what it draws on. */
function medicationOf(allocations: Allocation[], fallback: JsonObject | undefined): JsonObject {
  if (allocations.length === 1) {
    const m = allocations[0].line.medication;
    return { medicationReference: { reference: `Medication/${m.id}`, ...(describe(m.code) ? { display: describe(m.code) } : {}) } };
  }
  if (allocations.length === 0) return { medicationCodeableConcept: fallback ?? { text: 'unknown product' } };
  const first = allocations[0].line.medication;
  return {
    medicationCodeableConcept: isJsonObject(first.code) ? first.code : (fallback ?? { text: 'unknown product' }),
    extension: allocations.map(
      (a): JsonObject => ({
        url: DISPENSE_BATCH,
        extension: [
          { url: 'medication', valueReference: { reference: `Medication/${a.line.medication.id}` } },
          { url: 'stock-item', valueReference: { reference: `Basic/${a.line.item.id}` } },
          { url: 'quantity', valueQuantity: quantity(a.quantity, stockUnit(a.line.item)) },
        ] as JsonObject[],
      }),
    ),
  };
}

function batchNotes(allocations: Allocation[]): JsonObject[] {
  if (allocations.length < 2) return [];
  const parts = allocations.map((a) => {
    const batch = isJsonObject(a.line.medication.batch) ? a.line.medication.batch : {};
    const lot = typeof batch.lotNumber === 'string' ? `batch ${batch.lotNumber}` : `Medication/${a.line.medication.id}`;
    const exp = typeof batch.expirationDate === 'string' ? `, expires ${batch.expirationDate}` : '';
    return `${a.quantity} from ${lot} (Medication/${a.line.medication.id}${exp})`;
  });
  return [{ text: `Dispensed from several batches (first expiry first): ${parts.join('; ')}` }];
}

function dispenseBody(p: Plan, key: string, fields: JsonObject, notes: string[]): JsonObject {
  const r = p.request;
  const body: JsonObject = {
    resourceType: 'MedicationDispense',
    identifier: [{ system: DISPENSE_KEY, value: key }],
    ...fields,
    ...(r.subject ? { subject: r.subject } : {}),
    ...(refId(r.encounter, 'Encounter') ? { context: { reference: `Encounter/${refId(r.encounter, 'Encounter')}` } } : {}),
    ...(p.dispensary.organization ? { performer: [{ actor: { reference: `Organization/${p.dispensary.organization}` } }] } : {}),
    authorizingPrescription: [{ reference: `MedicationRequest/${r.id}` }],
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'FF', display: 'First Fill' }] },
    ...(p.dispensary.location ? { location: { reference: `Location/${p.dispensary.location.id}` } } : {}),
    ...(Array.isArray(r.dosageInstruction) && r.dosageInstruction.length ? { dosageInstruction: r.dosageInstruction } : {}),
  };
  const note = [...(Array.isArray(fields.note) ? fields.note : []), ...notes.map((text) => ({ text }))];
  if (note.length) body.note = note;
  else delete body.note;
  return body;
}

/** The supply request for an on-hold dispense (created once per dispense). */
async function requestSupply(
  ctx: WorkflowContext,
  p: Plan,
  dispense: JsonObject,
  lines: StockLine[],
  shortfall: number,
  unit: JsonObject,
): Promise<void> {
  const key = { system: SUPPLY_KEY, value: `MedicationDispense/${dispense.id}` };
  // the product's batch with the latest expiry (a new delivery will expire later still)
  const item = [...lines].sort((a, b) => (expiryDate(b.medication) ?? '').localeCompare(expiryDate(a.medication) ?? ''))[0]?.medication;
  await ctx.createOnce(
    {
      resourceType: 'SupplyRequest',
      identifier: [key],
      status: 'active',
      priority: 'urgent',
      ...(item ? { itemReference: { reference: `Medication/${item.id}` } } : { itemCodeableConcept: p.product ?? { text: 'unknown product' } }),
      quantity: quantity(supplyQuantity(lines, shortfall), unit),
      authoredOn: ctx.now,
      ...(p.dispensary.organization ? { requester: { reference: `Organization/${p.dispensary.organization}` } } : {}),
      ...(p.dispensary.location ? { deliverTo: { reference: `Location/${p.dispensary.location.id}` } } : {}),
      reasonCode: [{ text: 'out of stock' }],
      reasonReference: [{ reference: `MedicationDispense/${dispense.id}` }],
    },
    key,
  );
}

/** Dispenses already made for a request (any of its keys). */
async function existingDispenses(ctx: WorkflowContext, requestId: string): Promise<JsonObject[]> {
  const keys = ['', '#part1', '#part2'].map((s) => `${DISPENSE_KEY}|MedicationRequest/${requestId}${s}`);
  return ctx.search('MedicationDispense', `identifier=${keys.map(encodeURIComponent).join(',')}`);
}

/** Prepares one dispensable request (nothing when it already has its dispense). Returns whether it made any. */
async function prepare(
  ctx: WorkflowContext,
  look: Lookups,
  opts: DispensingOptions,
  request: JsonObject,
  encounter: JsonObject | undefined,
): Promise<boolean> {
  const id = String(request.id);
  if ((await existingDispenses(ctx, id)).length) return false;
  const about = `MedicationRequest/${id}`;
  const product = await productOf(look, request);
  const p: Plan = { request, encounter, product, dispensary: await dispensaryFor(ctx, request, encounter) };
  const asked = requestedQuantity(request);
  const notes = asked.note ? [asked.note] : [];
  if (asked.note) ctx.note('information', asked.note, about);
  const once = (key: string, fields: JsonObject, extra: string[] = []) =>
    ctx.createOnce(dispenseBody(p, key, fields, [...notes, ...extra]), { system: DISPENSE_KEY, value: key });
  const main = `MedicationRequest/${id}`;

  // Declined (frr04) with the reason as a note, a response warning and a Flag.
  const decline = async (why: string): Promise<true> => {
    ctx.note('warning', `${describe(product)} not dispensed — ${why}`, about);
    await once(
      main,
      {
        status: 'declined',
        statusReasonCodeableConcept: REASON.notStocked,
        medicationCodeableConcept: product ?? { text: 'unknown product' },
        quantity: quantity(asked.value, asked.unit),
      },
      [why],
    );
    return true;
  };

  if (!p.dispensary.location) {
    const why = p.dispensary.organization
      ? `no dispensary: Organization/${p.dispensary.organization} has no active Location of type PHARM or OUTPHARM`
      : 'no dispensary: the prescription names no dispensing Organization and its visit no serviceProvider';
    return decline(why);
  }

  const lines = await productLines(look, String(p.dispensary.location.id), product);
  if (lines.length === 0) {
    const why = `${describe(product)} is not stocked at ${typeof p.dispensary.location.name === 'string' ? p.dispensary.location.name : `Location/${p.dispensary.location.id}`}`;
    return decline(why);
  }

  const locked = await lockedLines(look, lines);
  // The stock rows are locked now: a concurrent run for this request (another trigger) has committed or waits.
  if ((await existingDispenses(ctx, id)).length) return false;
  const unit = Object.keys(asked.unit).length ? asked.unit : stockUnit(lines[0].item);
  const plan = allocate(locked, asked.value);
  if (plan.ok) {
    const { resource, created } = await once(main, {
      status: 'preparation',
      ...medicationOf(plan.allocations, product),
      quantity: quantity(asked.value, unit),
      note: batchNotes(plan.allocations),
    });
    if (created) await reserve(ctx, String(resource.id), plan.allocations);
    return true;
  }

  if (opts.allowPartial && plan.available > 0) {
    const part = allocate(locked, plan.available);
    if (part.ok) {
      const first = await once(
        `${main}#part1`,
        {
          status: 'preparation',
          ...medicationOf(part.allocations, product),
          quantity: quantity(plan.available, unit),
          note: batchNotes(part.allocations),
        },
        [`Partial fill: ${plan.available} of ${asked.value}; the remaining ${plan.shortfall} waits for stock (${main}#part2)`],
      );
      if (first.created) await reserve(ctx, String(first.resource.id), part.allocations);
      const second = await once(
        `${main}#part2`,
        {
          status: 'on-hold',
          statusReasonCodeableConcept: REASON.outOfStock,
          medicationCodeableConcept: product ?? { text: 'unknown product' },
          quantity: quantity(plan.shortfall, unit),
        },
        [`Remainder of a partial fill: waits for ${plan.shortfall} more`],
      );
      if (second.created) await requestSupply(ctx, p, second.resource, lines, plan.shortfall, unit);
      ctx.note('information', `${describe(product)}: ${plan.available} of ${asked.value} prepared, ${plan.shortfall} on hold until restocked`, about);
      return true;
    }
  }

  const why = `out of stock: ${asked.value} asked, ${plan.available} available`;
  const { resource, created } = await once(
    main,
    {
      status: 'on-hold',
      statusReasonCodeableConcept: REASON.outOfStock,
      medicationCodeableConcept: product ?? { text: 'unknown product' },
      quantity: quantity(asked.value, unit),
    },
    [why],
  );
  if (created) await requestSupply(ctx, p, resource, lines, plan.shortfall, unit);
  ctx.note('warning', `${describe(product)} on hold — ${why}; a SupplyRequest was raised`, about);
  return true;
}

function dispensable(request: JsonObject): boolean {
  return request.status === 'active' && DISPENSABLE_INTENTS.has(String(request.intent));
}

function byAuthoredOn(a: JsonObject, b: JsonObject): number {
  const x = String(a.authoredOn ?? '');
  const y = String(b.authoredOn ?? '');
  if (x !== y) return x < y ? -1 : 1;
  return String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0;
}

/** Cancels a dispense that is not completed yet (nothing for ended or completed ones); releases its stock. */
async function cancel(ctx: WorkflowContext, dispense: JsonObject, why: string): Promise<JsonObject | undefined> {
  const s = status(dispense);
  if (s === undefined || s === 'completed' || ENDED.has(s)) return undefined;
  await move(ctx, String(dispense.id), 'release');
  const note = [...(Array.isArray(dispense.note) ? dispense.note : []), { text: why }];
  const { statusReasonCodeableConcept: _reason, ...rest } = dispense;
  return ctx.update({ ...rest, status: 'cancelled', note });
}

// --- the handlers -----------------------------------------------------------------------------------------------

export interface Dispensing {
  prepareForEncounter(ctx: WorkflowContext, encounter: JsonObject): Promise<void>;
  prepareForRequest(ctx: WorkflowContext, request: JsonObject): Promise<string | undefined>;
  requestEnded(ctx: WorkflowContext, request: JsonObject): Promise<JsonObject[]>;
  dispenseChanged(ctx: WorkflowContext, previous: JsonObject | undefined, dispense: JsonObject): Promise<JsonObject | undefined>;
  delivered(ctx: WorkflowContext, delivery: JsonObject): Promise<string[]>;
  cancelForEncounter(ctx: WorkflowContext, encounter: JsonObject): Promise<void>;
}

export function dispensingHandlers(opts: DispensingOptions): Dispensing {
  return {
    /** The visit concluded: each of its dispensable prescriptions, in the order they were written. */
    async prepareForEncounter(ctx, encounter) {
      const look = new Lookups(ctx);
      const requests = (await ctx.search('MedicationRequest', `encounter=Encounter/${encounter.id}&status=active`))
        .filter(dispensable)
        .sort(byAuthoredOn);
      for (const r of requests) await prepare(ctx, look, opts, r, encounter);
    },

    /** A prescription became active: dispensed now if its visit is over, it has none, or AROGYA_DISPENSE_ON=request. */
    async prepareForRequest(ctx, request) {
      if (!dispensable(request)) return undefined;
      const encounterId = refId(request.encounter, 'Encounter');
      const encounter = encounterId ? await ctx.read('Encounter', encounterId) : undefined;
      if (encounterId && status(encounter) !== 'finished' && opts.dispenseOn !== 'request') return undefined;
      const made = await prepare(ctx, new Lookups(ctx), opts, request, encounter);
      return made ? encounterId : undefined;
    },

    /** A prescription was cancelled, stopped or entered in error: its dispenses not yet handed over are cancelled. */
    async requestEnded(ctx, request) {
      const out: JsonObject[] = [];
      for (const d of await ctx.search('MedicationDispense', `prescription=MedicationRequest/${request.id}`)) {
        const done = await cancel(ctx, d, `Cancelled: the prescription MedicationRequest/${request.id} is ${String(request.status)}`);
        if (done) out.push(done);
      }
      return out;
    },

    /** A pharmacist moved a dispense: stock follows (consumed on completion, released on cancel, returned on error). */
    async dispenseChanged(ctx, previous, dispense) {
      const was = status(previous);
      const now = status(dispense);
      if (now === undefined || now === was) return undefined;
      const id = String(dispense.id);
      if (now === 'completed') await move(ctx, id, 'consume');
      else if (now === 'entered-in-error') {
        await move(ctx, id, 'release');
        await move(ctx, id, 'return');
      } else if (!HOLDING.has(now)) await move(ctx, id, 'release'); // cancelled, declined, stopped, on-hold
      return ENDED.has(now) && !ENDED.has(was ?? '') ? dispense : undefined;
    },

    /** Stock arrived: on hand rises, and on-hold dispenses of that product there resume in prescription order. */
    async delivered(ctx, delivery) {
      const look = new Lookups(ctx);
      const locationId = refId(delivery.destination, 'Location');
      const item = isJsonObject(delivery.suppliedItem) ? delivery.suppliedItem : {};
      const medId = refId(item.itemReference, 'Medication');
      const q = quantityValue(item.quantity);
      const about = `SupplyDelivery/${delivery.id}`;
      if (!locationId || !medId || q === undefined || q <= 0) {
        ctx.note(
          'warning',
          'stock not updated: a delivery needs destination (Location), suppliedItem.itemReference (Medication) and a positive suppliedItem.quantity',
          about,
        );
        return [];
      }
      const medication = await look.read('Medication', medId);
      const location = await look.read('Location', locationId);
      if (!medication || !location) return [];
      const same = (await ctx.search('Basic', `${STOCK_ITEMS}&stock-location=Location/${locationId}&subject=Medication/${medId}`)).sort((a, b) =>
        String(a.id) < String(b.id) ? -1 : 1,
      );
      if (same.length) {
        const cur = await ctx.readForUpdate('Basic', String(same[0].id));
        if (cur) await ctx.update(withStockQuantity(cur, STOCK_EXT.onHand, fromUnits(toUnits(onHand(cur)) + toUnits(q))));
      } else {
        // A new batch: a stock item of its own, with the reorder settings of the product's other batches here.
        const sibling = (await productLines(look, locationId, medication.code))[0]?.item;
        const unit = isJsonObject(item.quantity) ? item.quantity : {};
        const { value: _v, ...unitOnly } = unit;
        const owner = refId(location.managingOrganization, 'Organization');
        const copied = sibling
          ? [STOCK_EXT.reorderLevel, STOCK_EXT.reorderQuantity, STOCK_EXT.consumable].flatMap((url) =>
              (Array.isArray(sibling.extension) ? sibling.extension : []).filter((e) => isJsonObject(e) && e.url === url),
            )
          : [];
        await ctx.create({
          resourceType: 'Basic',
          meta: { profile: [STOCK_ITEM_PROFILE] },
          code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: STOCK_ITEM_CODE }] },
          subject: { reference: `Medication/${medId}` },
          ...(owner ? { author: { reference: `Organization/${owner}` } } : {}),
          extension: [
            { url: STOCK_EXT.location, valueReference: { reference: `Location/${locationId}` } },
            { url: STOCK_EXT.onHand, valueQuantity: { ...unitOnly, value: q } },
            { url: STOCK_EXT.reserved, valueQuantity: { ...unitOnly, value: 0 } },
            ...copied,
          ],
        });
      }

      // On-hold dispenses the workflow made here for this product, oldest prescription first.
      const held: { dispense: JsonObject; request: JsonObject }[] = [];
      const candidates = new Map<string, JsonObject>();
      const codes = codingTokens(medication.code);
      const text = textOf(medication.code);
      const queries = [
        ...(codes.length ? [`status=on-hold&code=${codes.map(encodeURIComponent).join(',')}`] : []),
        ...(text ? [`status=on-hold&code:text=${encodeURIComponent(text)}`] : []),
      ];
      for (const query of queries) for (const d of await ctx.search('MedicationDispense', query)) candidates.set(String(d.id), d);
      for (const d of candidates.values()) {
        if (refId(d.location, 'Location') !== locationId || !keyOf(d)) continue;
        if (!productMatch(d.medicationCodeableConcept, medication)) continue;
        const requestId = refId(Array.isArray(d.authorizingPrescription) ? d.authorizingPrescription[0] : undefined, 'MedicationRequest');
        const request = requestId ? await ctx.read('MedicationRequest', requestId) : undefined;
        if (request && dispensable(request)) held.push({ dispense: d, request });
      }
      held.sort((a, b) => byAuthoredOn(a.request, b.request) || (keyOf(a.dispense)! < keyOf(b.dispense)! ? -1 : 1));

      const encounters: string[] = [];
      for (const { dispense, request } of held) {
        const asked = quantityValue(dispense.quantity);
        if (asked === undefined) continue;
        const product = isJsonObject(dispense.medicationCodeableConcept) ? dispense.medicationCodeableConcept : undefined;
        const locked = await lockedLines(look, await productLines(look, locationId, product));
        const plan = allocate(locked, asked);
        if (!plan.ok) continue; // any that now fit resume; the others keep waiting
        const { statusReasonCodeableConcept: _reason, medicationCodeableConcept: _m, extension, ...rest } = dispense;
        const kept = (Array.isArray(extension) ? extension : []).filter((e) => !isJsonObject(e) || e.url !== DISPENSE_BATCH);

        const note = [
          ...(Array.isArray(dispense.note) ? dispense.note : []),
          ...batchNotes(plan.allocations),
          { text: `Resumed on restock (${about})` },
        ];
        const { extension: batches, ...drawn } = medicationOf(plan.allocations, product);
        const extensions = [...kept, ...(Array.isArray(batches) ? batches : [])];
        const resumed = await ctx.update({ ...rest, status: 'preparation', ...drawn, ...(extensions.length ? { extension: extensions } : {}), note });
        await reserve(ctx, String(resumed.id), plan.allocations); // the next one re-reads the locked items
        for (const sr of await ctx.search('SupplyRequest', `identifier=${encodeURIComponent(`${SUPPLY_KEY}|MedicationDispense/${dispense.id}`)}`)) {
          if (sr.status === 'active' || sr.status === 'draft') await ctx.update({ ...sr, status: 'completed' });
        }
        const encounterId = refId(dispense.context, 'Encounter') ?? refId(request.encounter, 'Encounter');
        if (encounterId && !encounters.includes(encounterId)) encounters.push(encounterId);
      }
      return encounters;
    },

    /** The visit was cancelled or entered in error: dispenses not yet handed over are cancelled, stock released. */
    async cancelForEncounter(ctx, encounter) {
      for (const d of await ctx.search('MedicationDispense', `context=Encounter/${encounter.id}`)) {
        await cancel(ctx, d, `Cancelled: the visit Encounter/${encounter.id} is ${String(encounter.status)}`);
      }
    },
  };
}

/** The stock figures of a stock item (for tests and tools). */
export function stockFigures(item: JsonObject): { onHand: number; reserved: number; reorderQuantity?: number } {
  return { onHand: onHand(item), reserved: reserved(item), reorderQuantity: stockQuantity(item, STOCK_EXT.reorderQuantity) };
}
