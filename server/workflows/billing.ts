/**
 * Workflow A, billing at visit conclusion (HMS-DOMAIN.md §0, §4.8–4.9, §5.1, §5.3): the handlers the runner
 * (runner.ts) calls, inside the transaction of the triggering write.
 *
 * - `billEncounter`: the visit's Account (A1), its ChargeItems (A2: the consultation, each prepared dispense, each
 *   billable lab report, plus billable ChargeItems a user entered with `context` = the visit), priced (A3,
 *   pricing.ts) onto one Invoice (A4: `issued`, or `draft` with a note per unpriced item), the ChargeItems then
 *   `billed` (A5). Later runs recompute a draft invoice in place, or put the still-billable items on a
 *   supplementary invoice (`Encounter/{id}#2`, `#3`, …); nothing billable → nothing written.
 * - `cancelEncounterBilling`: a cancelled visit's invoices → `cancelled`, its ChargeItems → `entered-in-error`.
 * - `dispenseCancelled`: a cancelled dispense's ChargeItem → `aborted`, or, once billed on an issued invoice, a
 *   credit ChargeItem (quantity −q) for the next supplementary invoice.
 *
 * Exactly once: every run first locks the Encounter's row, so the runs of one visit (its conclusion, a late lab
 * report, a cancelled dispense) are serialised; generated resources are created through `createOnce` on their
 * business keys; an item is put on an invoice only while it is `billable` under a row lock, and becomes `billed` in
 * the same transaction (at most one non-cancelled invoice per ChargeItem).
 *
 * How a client finds a visit's invoice: `Invoice?identifier=https://arogya.dev/fhir/sid/invoice-key|Encounter/{id}`
 * (supplementary ones: `…|Encounter/{id}%232`), or all of them with `Invoice?account:Account.identifier=
 * https://arogya.dev/fhir/sid/encounter-account|{id}` (R4 Invoice has no encounter element or parameter).
 */
import { type JsonObject, type JsonValue, isJsonObject } from '../fhir/json';
import { SID, BASE, type WorkflowContext } from './context';
import {
  type Decimal,
  type InvoiceLine,
  type LineOverride,
  type PricedLine,
  CURRENCY,
  asArray,
  decimalJson,
  invoiceAmounts,
  parseDecimal,
  priceLine,
  unitPrice,
} from './pricing';

const BILLING_CODES = 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-billing-codes';
const SNOMED = 'http://snomed.info/sct';
const HFR_SYSTEMS = new Set(['https://facility.abdm.gov.in', 'https://facility.ndhm.gov.in']);
const BILLABLE_DISPENSE = new Set(['preparation', 'in-progress', 'completed']);
const BILLABLE_REPORT = new Set(['final', 'amended', 'corrected', 'appended']);
const DISPENSE_BATCH = `${BASE}/StructureDefinition/dispense-batch`;
const IMAGING = new Set(['RAD', 'CT', 'MR', 'US', 'XR', 'NMR', 'VUS', 'imaging']);

export const CHARGE_ITEM_KEY = `${SID}/chargeitem-key`;
export const INVOICE_KEY = `${SID}/invoice-key`;
export const BILL_ID = `${SID}/bill-id`;
export const ENCOUNTER_ACCOUNT = `${SID}/encounter-account`;
/** The HMS profiles (profiles/) generated invoices and ChargeItems claim, so they are validated against them. */
const INVOICE_PROFILE = `${BASE}/StructureDefinition/hms-invoice`;
const CHARGE_ITEM_PROFILE = `${BASE}/StructureDefinition/hms-chargeitem`;

const ONE: Decimal = { units: 1n, scale: 0 };

/** The visit as billing sees it. */
interface Visit {
  id: string;
  encounter: JsonObject;
  patient: string;
  hospital: JsonObject;
  hospitalId: string;
  /** The primary practitioner (`Practitioner/{id}`) and their PractitionerRole at the hospital, when known. */
  practitioner?: string;
  roleId?: string;
  account: JsonObject;
}

// ---------------------------------------------------------------------------------------------------------------
// Handlers

export async function billEncounter(ctx: WorkflowContext, encounter: JsonObject): Promise<void> {
  const id = String(encounter.id);
  // Serialises every billing run of this visit (its conclusion, a late report, a cancelled dispense).
  const current = (await ctx.readForUpdate('Encounter', id)) ?? encounter;
  if (current.status !== 'finished') return;
  const visit = await resolveVisit(ctx, current);
  if (!visit) return;
  const book = new PriceBook(ctx);
  const dispenses = await materialise(ctx, visit, book);
  await invoiceVisit(ctx, visit, book, dispenses);
}

export async function cancelEncounterBilling(ctx: WorkflowContext, encounter: JsonObject): Promise<void> {
  const id = String(encounter.id);
  const current = (await ctx.readForUpdate('Encounter', id)) ?? encounter;
  const [account] = await ctx.search('Account', query({ identifier: `${ENCOUNTER_ACCOUNT}|${id}` }));
  if (!account) return; // never billed: nothing to undo
  const invoices = await visitInvoices(ctx, id, String(account.id));
  if (invoices.length === 0) return;
  const reason = `Encounter/${id} is ${String(current.status)}`;
  const paid = new Set<string>();
  for (const { invoice } of invoices) {
    if (invoice.status === 'draft' || invoice.status === 'issued') {
      await ctx.update({ ...invoice, status: 'cancelled', cancelledReason: reason });
    } else if (invoice.status === 'balanced') {
      // A paid bill is not cancelled by the server: the refund is a cashier's decision.
      for (const ref of lineRefs(invoice)) paid.add(ref);
      ctx.note(
        'warning',
        `Invoice/${String(invoice.id)} is already paid (balanced) and was not cancelled: refund it by hand`,
        `Invoice/${String(invoice.id)}`,
      );
    }
  }
  for (const item of await ctx.search('ChargeItem', query({ context: `Encounter/${id}` }))) {
    if (paid.has(`ChargeItem/${String(item.id)}`)) continue;
    const locked = await ctx.readForUpdate('ChargeItem', String(item.id));
    if (locked && (locked.status === 'billable' || locked.status === 'billed')) await ctx.update({ ...locked, status: 'entered-in-error' });
  }
}

export async function dispenseCancelled(ctx: WorkflowContext, dispense: JsonObject): Promise<void> {
  const dispenseId = String(dispense.id);
  const [found] = await ctx.search('ChargeItem', query({ identifier: `${CHARGE_ITEM_KEY}|dispense:MedicationDispense/${dispenseId}` }));
  if (!found) return;
  const encounterId = refId(dispense.context, 'Encounter') ?? refId(found.context, 'Encounter');
  if (encounterId) await ctx.readForUpdate('Encounter', encounterId);
  const item = await ctx.readForUpdate('ChargeItem', String(found.id));
  if (!item) return;
  if (item.status === 'billable') {
    await ctx.update({ ...item, status: 'aborted' });
    return;
  }
  if (item.status !== 'billed' || !encounterId) return;
  const accountId = refId(asArray(item.account)[0], 'Account');
  const invoices = accountId ? await visitInvoices(ctx, encounterId, accountId) : [];
  const on = invoices.find(({ invoice }) => invoice.status !== 'cancelled' && lineRefs(invoice).includes(`ChargeItem/${String(item.id)}`));
  if (on?.invoice.status === 'draft') {
    // Not issued yet: the line goes, the draft is recomputed.
    await ctx.update({ ...item, status: 'aborted' });
    const encounter = await ctx.read('Encounter', encounterId);
    const visit = encounter && (await resolveVisit(ctx, encounter));
    if (visit) await writeInvoice(ctx, visit, new PriceBook(ctx), on, on.n, await itemsOn(ctx, on.invoice, []));
    return;
  }
  await ctx.createOnce(creditFor(ctx, item, dispenseId), { system: CHARGE_ITEM_KEY, value: `credit:MedicationDispense/${dispenseId}` });
}

// ---------------------------------------------------------------------------------------------------------------
// The visit: hospital, patient, practitioner, account (A1)

async function resolveVisit(ctx: WorkflowContext, encounter: JsonObject): Promise<Visit | undefined> {
  const id = String(encounter.id);
  const about = `Encounter/${id}`;
  const patientId = refId(encounter.subject, 'Patient');
  if (!patientId) {
    ctx.note('warning', `not billed: ${about} has no subject Patient`, about);
    return undefined;
  }
  const participants = asArray(encounter.participant).filter(isJsonObject);
  let hospital: JsonObject | undefined;
  const serviceProvider = refId(encounter.serviceProvider, 'Organization');
  if (serviceProvider) hospital = await ctx.read('Organization', serviceProvider);
  if (!hospital) {
    // §5.1: the Organization of the first participant's PractitionerRole.
    const first = participants.map((p) => refId(p.individual, 'PractitionerRole')).find((r) => r !== undefined);
    const role = first ? await ctx.read('PractitionerRole', first) : undefined;
    const org = refId(role?.organization, 'Organization');
    if (org) hospital = await ctx.read('Organization', org);
  }
  if (!hospital) {
    ctx.note('warning', `not billed: ${about} has no serviceProvider, and no participant's PractitionerRole names an Organization`, about);
    return undefined;
  }
  const hospitalId = String(hospital.id);
  const { practitioner, roleId } = await primaryPractitioner(ctx, participants, hospitalId);
  const patient = `Patient/${patientId}`;
  const key = { system: ENCOUNTER_ACCOUNT, value: id };
  const { resource: account } = await ctx.createOnce(
    {
      resourceType: 'Account',
      identifier: [key],
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PBILLACCT', display: 'patient billing account' }] },
      name: `OPD visit Encounter/${id}`,
      subject: [{ reference: patient }],
      ...(isJsonObject(encounter.period) ? { servicePeriod: encounter.period } : {}),
      owner: { reference: `Organization/${hospitalId}` },
    },
    key,
  );
  return { id, encounter, patient, hospital, hospitalId, practitioner, roleId, account };
}

/** The participant of type PPRF (primary performer), else ATND, else the first with an individual. */
async function primaryPractitioner(
  ctx: WorkflowContext,
  participants: JsonObject[],
  hospitalId: string,
): Promise<{ practitioner?: string; roleId?: string }> {
  const typed = (code: string) => (p: JsonObject) =>
    asArray(p.type).some((t) => isJsonObject(t) && asArray(t.coding).some((c) => isJsonObject(c) && c.code === code));
  const ranked = [...participants.filter(typed('PPRF')), ...participants.filter(typed('ATND')), ...participants];
  for (const p of ranked) {
    const roleId = refId(p.individual, 'PractitionerRole');
    if (roleId) {
      const role = await ctx.read('PractitionerRole', roleId);
      const practitioner = refId(role?.practitioner, 'Practitioner');
      return { practitioner: practitioner && `Practitioner/${practitioner}`, roleId: role ? roleId : undefined };
    }
    const practitionerId = refId(p.individual, 'Practitioner');
    if (practitionerId) {
      const roles = await ctx.search(
        'PractitionerRole',
        query({ practitioner: `Practitioner/${practitionerId}`, organization: `Organization/${hospitalId}` }),
      );
      const role = roles.find((r) => r.active !== false);
      return { practitioner: `Practitioner/${practitionerId}`, roleId: role ? String(role.id) : undefined };
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------------------
// ChargeItems (A2)

function chargeItem(ctx: WorkflowContext, visit: Visit, key: string, fields: JsonObject): JsonObject {
  return {
    resourceType: 'ChargeItem',
    meta: { profile: [CHARGE_ITEM_PROFILE] },
    identifier: [{ system: CHARGE_ITEM_KEY, value: key }],
    status: 'billable',
    ...fields,
    subject: { reference: visit.patient },
    context: { reference: `Encounter/${visit.id}` },
    performingOrganization: { reference: `Organization/${visit.hospitalId}` },
    enteredDate: ctx.now,
    account: [{ reference: `Account/${String(visit.account.id)}` }],
  };
}

function billingCode(code: string, display?: string): JsonObject {
  return { coding: [{ system: BILLING_CODES, code, ...(display ? { display } : {}) }] };
}

/** The consultation, each prepared dispense and each billable report of the visit, as ChargeItems (created once). */
/** Returns the status of each of the visit's dispenses, by id. */
async function materialise(ctx: WorkflowContext, visit: Visit, book: PriceBook): Promise<Map<string, string>> {
  const consultKey = `consult:Encounter/${visit.id}`;
  const consultDefinition = await book.consultation(visit);
  await ctx.createOnce(
    chargeItem(ctx, visit, consultKey, {
      code: billingCode('00', 'Consultation'),
      productCodeableConcept: { coding: [{ system: SNOMED, code: '11429006', display: 'Consultation' }], text: 'Consultation' },
      quantity: { value: 1 },
      ...(visit.practitioner ? { performer: [{ actor: { reference: visit.practitioner } }] } : {}),
      ...(isJsonObject(visit.encounter.period) ? { occurrencePeriod: visit.encounter.period } : {}),
      ...(consultDefinition ? { definitionCanonical: [String(consultDefinition.url)] } : {}),
    }),
    { system: CHARGE_ITEM_KEY, value: consultKey },
  );

  const statuses = new Map<string, string>();
  for (const dispense of await ctx.search('MedicationDispense', query({ context: `Encounter/${visit.id}` }))) {
    statuses.set(String(dispense.id), String(dispense.status));
    if (!BILLABLE_DISPENSE.has(String(dispense.status))) continue;
    const key = `dispense:MedicationDispense/${String(dispense.id)}`;
    // One batch: medicationReference; several: the product's code, with a dispense-batch extension per batch.
    const batches = batchMedications(dispense);
    const medicationId = batches[0];
    const medication = medicationId ? await ctx.read('Medication', medicationId) : undefined;
    const definition = await book.medicine(batches, medication?.code ?? dispense.medicationCodeableConcept);
    const display = displayOf(dispense.medicationCodeableConcept) ?? displayOf(medication?.code);
    await ctx.createOnce(
      chargeItem(ctx, visit, key, {
        code: billingCode('05', 'Medicines'),
        ...(medicationId
          ? { productReference: { reference: `Medication/${medicationId}`, ...(display ? { display } : {}) } }
          : isJsonObject(dispense.medicationCodeableConcept)
            ? { productCodeableConcept: dispense.medicationCodeableConcept }
            : {}),
        quantity: isJsonObject(dispense.quantity) ? dispense.quantity : { value: 1 },
        service: [{ reference: `MedicationDispense/${String(dispense.id)}` }],
        ...(definition ? { definitionCanonical: [String(definition.url)] } : {}),
      }),
      { system: CHARGE_ITEM_KEY, value: key },
    );
  }

  for (const report of await ctx.search('DiagnosticReport', query({ encounter: `Encounter/${visit.id}` }))) {
    if (!BILLABLE_REPORT.has(String(report.status))) continue;
    const key = `report:DiagnosticReport/${String(report.id)}`;
    const definition = await book.byCode(report.code);
    await ctx.createOnce(
      chargeItem(ctx, visit, key, {
        code: isImaging(report) ? billingCode('99', 'Others') : billingCode('04', 'Pathology'),
        ...(isJsonObject(report.code) ? { productCodeableConcept: report.code } : {}),
        quantity: { value: 1 },
        ...(typeof report.effectiveDateTime === 'string' ? { occurrenceDateTime: report.effectiveDateTime } : {}),
        service: [{ reference: `DiagnosticReport/${String(report.id)}` }],
        ...(definition ? { definitionCanonical: [String(definition.url)] } : {}),
      }),
      { system: CHARGE_ITEM_KEY, value: key },
    );
  }
  return statuses;
}

/** The Medication ids a dispense hands out: its medicationReference, else those of its dispense-batch extensions. */
function batchMedications(dispense: JsonObject): string[] {
  const single = refId(dispense.medicationReference, 'Medication');
  if (single) return [single];
  return asArray(dispense.extension)
    .filter((e): e is JsonObject => isJsonObject(e) && e.url === DISPENSE_BATCH)
    .flatMap((e) => asArray(e.extension).filter((x): x is JsonObject => isJsonObject(x) && x.url === 'medication'))
    .map((x) => refId(x.valueReference, 'Medication'))
    .filter((id): id is string => id !== undefined);
}

function isImaging(report: JsonObject): boolean {
  return asArray(report.category).some((c) => isJsonObject(c) && asArray(c.coding).some((k) => isJsonObject(k) && IMAGING.has(String(k.code))));
}

/** A credit for a billed dispense's ChargeItem: the same item with quantity −q, billable, `partOf` the original. */
function creditFor(ctx: WorkflowContext, item: JsonObject, dispenseId: string): JsonObject {
  const { id: _id, meta: _meta, identifier: _identifier, status: _status, note: _note, ...rest } = item;
  const quantity = isJsonObject(item.quantity) ? item.quantity : { value: 1 };
  const q = parseDecimal(quantity.value) ?? ONE;
  const credit: JsonObject = {
    meta: { profile: [CHARGE_ITEM_PROFILE] },
    ...rest,
    identifier: [{ system: CHARGE_ITEM_KEY, value: `credit:MedicationDispense/${dispenseId}` }],
    status: 'billable',
    partOf: [{ reference: `ChargeItem/${String(item.id)}` }],
    quantity: { ...quantity, value: decimalJson({ units: -q.units, scale: q.scale }) },
    enteredDate: ctx.now,
    note: [{ text: `Credit for ChargeItem/${String(item.id)}: MedicationDispense/${dispenseId} was cancelled after billing`, time: ctx.now }],
  };
  const override = isJsonObject(item.priceOverride) ? parseDecimal(item.priceOverride.value) : undefined;
  if (override && isJsonObject(item.priceOverride)) {
    credit.priceOverride = { ...item.priceOverride, value: decimalJson({ units: -override.units, scale: override.scale }) };
  }
  return credit;
}

// ---------------------------------------------------------------------------------------------------------------
// Invoices (A3–A5)

interface VisitInvoice {
  invoice: JsonObject;
  /** 1 for the visit's invoice, 2, 3, … for supplementary ones. */
  n: number;
}

/** The invoices billing wrote for the visit, by their invoice-key, in order. */
async function visitInvoices(ctx: WorkflowContext, encounterId: string, accountId: string): Promise<VisitInvoice[]> {
  const base = `Encounter/${encounterId}`;
  const out: VisitInvoice[] = [];
  for (const invoice of await ctx.search('Invoice', query({ account: `Account/${accountId}` }))) {
    const key = asArray(invoice.identifier).find((i) => isJsonObject(i) && i.system === INVOICE_KEY) as JsonObject | undefined;
    const value = typeof key?.value === 'string' ? key.value : '';
    if (value === base) out.push({ invoice, n: 1 });
    else if (value.startsWith(`${base}#`) && /^\d+$/.test(value.slice(base.length + 1)))
      out.push({ invoice, n: Number(value.slice(base.length + 1)) });
  }
  return out.sort((a, b) => a.n - b.n);
}

function lineRefs(invoice: JsonObject): string[] {
  return asArray(invoice.lineItem)
    .map((l) => (isJsonObject(l) && isJsonObject(l.chargeItemReference) ? l.chargeItemReference.reference : undefined))
    .filter((r): r is string => typeof r === 'string');
}

/** The ChargeItems still `billed` on `invoice` (in its line order), then `added`. */
async function itemsOn(ctx: WorkflowContext, invoice: JsonObject, added: JsonObject[]): Promise<JsonObject[]> {
  const out: JsonObject[] = [];
  for (const ref of lineRefs(invoice)) {
    const id = refId({ reference: ref }, 'ChargeItem');
    const item = id ? await ctx.read('ChargeItem', id) : undefined;
    if (item?.status === 'billed') out.push(item);
  }
  return [...out, ...added];
}

/** The order of lines: consultation, medicines, reports, other items, credits; then as entered. */
function rank(item: JsonObject): number {
  const key = keyOf(item) ?? '';
  const order = ['consult:', 'dispense:', 'report:', '', 'credit:'];
  const i = order.findIndex((p) => p !== '' && key.startsWith(p));
  return i >= 0 ? i : 3;
}

function keyOf(item: JsonObject): string | undefined {
  const id = asArray(item.identifier).find((i) => isJsonObject(i) && i.system === CHARGE_ITEM_KEY) as JsonObject | undefined;
  return typeof id?.value === 'string' ? id.value : undefined;
}

async function invoiceVisit(ctx: WorkflowContext, visit: Visit, book: PriceBook, dispenses: Map<string, string>): Promise<void> {
  const items = await ctx.search('ChargeItem', query({ context: `Encounter/${visit.id}` }));
  const billable: JsonObject[] = [];
  const sorted = items.sort(
    (a, b) => rank(a) - rank(b) || String(a.enteredDate ?? '').localeCompare(String(b.enteredDate ?? '')) || String(a.id).localeCompare(String(b.id)),
  );
  for (const found of sorted) {
    if (found.status !== 'billable') continue;
    const item = await ctx.readForUpdate('ChargeItem', String(found.id));
    if (item?.status !== 'billable') continue;
    // A dispense that went on hold or was cancelled without the runner telling us: its item is not billed.
    const dispense = (keyOf(item) ?? '').startsWith('dispense:') ? refId(asArray(item.service)[0], 'MedicationDispense') : undefined;
    if (dispense && !BILLABLE_DISPENSE.has(dispenses.get(dispense) ?? '')) {
      await ctx.update({ ...item, status: 'aborted' });
      continue;
    }
    billable.push(item);
  }
  if (billable.length === 0) return; // nothing new: nothing written
  const invoices = await visitInvoices(ctx, visit.id, String(visit.account.id));
  const draft = [...invoices].reverse().find(({ invoice }) => invoice.status === 'draft');
  if (draft) {
    await writeInvoice(ctx, visit, book, draft, draft.n, await itemsOn(ctx, draft.invoice, billable));
    return;
  }
  const n = invoices.length === 0 ? 1 : Math.max(...invoices.map((i) => i.n)) + 1;
  await writeInvoice(ctx, visit, book, undefined, n, billable, invoices[0]?.invoice);
}

/**
 * Prices `items` onto the visit's invoice number `n` (a new one, or `existing` recomputed in place) and marks them
 * billed. Issued when every item is priced, else a draft with a note per unpriced item.
 */
async function writeInvoice(
  ctx: WorkflowContext,
  visit: Visit,
  book: PriceBook,
  existing: VisitInvoice | undefined,
  n: number,
  items: JsonObject[],
  original?: JsonObject,
): Promise<void> {
  const lines: InvoiceLine[] = [];
  const notes: JsonObject[] = [];
  const priced: { item: JsonObject; definition?: string }[] = [];
  for (const item of items) {
    const { line, definition, why } = await priceItem(book, visit, item);
    const ref = `ChargeItem/${String(item.id)}`;
    lines.push({ chargeItem: ref, line });
    priced.push({ item, definition });
    if (!line) {
      const display = (await itemDisplay(ctx, item)) ?? 'no display';
      notes.push({ text: `Unpriced: ${ref} (${display})` });
      ctx.note('warning', `the bill of Encounter/${visit.id} stays a draft: ${ref} (${display}) has no price${why ? ` (${why})` : ''}`, ref);
    }
  }
  const amounts = invoiceAmounts(lines);
  const status = notes.length > 0 ? 'draft' : 'issued';
  const key = { system: INVOICE_KEY, value: n === 1 ? `Encounter/${visit.id}` : `Encounter/${visit.id}#${n}` };
  const body: JsonObject = {
    resourceType: 'Invoice',
    meta: { profile: [INVOICE_PROFILE] },
    status,
    type: billingCode('03', 'OPD'),
    subject: { reference: visit.patient },
    recipient: { reference: visit.patient },
    date: ctx.now,
    ...(visit.practitioner ? { participant: [{ actor: { reference: visit.practitioner } }] } : {}),
    issuer: { reference: `Organization/${visit.hospitalId}` },
    account: { reference: `Account/${String(visit.account.id)}` },
    ...amounts,
  };
  if (amounts.lineItem.length === 0) delete body.lineItem; // no empty arrays in FHIR JSON
  if (original) notes.unshift({ text: `Supplementary to Invoice/${String(original.id)} (bill ${billNumberOf(original) ?? 'without a number'})` });
  if (notes.length > 0) body.note = notes;
  if (existing) {
    const { note: _note, lineItem: _l, totalPriceComponent: _t, totalNet: _n, totalGross: _g, ...kept } = existing.invoice;
    await ctx.update({ ...kept, ...body, identifier: existing.invoice.identifier as JsonValue, date: existing.invoice.date ?? ctx.now });
  } else {
    const billNumber = await nextBillNumber(ctx, visit.hospital);
    const identifier = [{ use: 'official', type: { text: 'Bill number' }, system: BILL_ID, value: billNumber }, key];
    await ctx.createOnce({ resourceType: 'Invoice', identifier, ...body }, key);
  }
  for (const { item, definition } of priced) {
    if (item.status === 'billed' && (!definition || asArray(item.definitionCanonical).length > 0)) continue;
    const next: JsonObject = { ...item, status: 'billed' };
    if (definition && asArray(item.definitionCanonical).length === 0) next.definitionCanonical = [definition];
    await ctx.update(next);
  }
}

function billNumberOf(invoice: JsonObject): string | undefined {
  const id = asArray(invoice.identifier).find((i) => isJsonObject(i) && i.system === BILL_ID) as JsonObject | undefined;
  return typeof id?.value === 'string' ? id.value : undefined;
}

/**
 * `{HFR id}/{yyyy}/{6-digit sequence}` (§0), the sequence per bill-number prefix and year; a hospital without an
 * HFR id numbers its bills under its Organization id. The year is the UTC year of the run.
 */
async function nextBillNumber(ctx: WorkflowContext, hospital: JsonObject): Promise<string> {
  const prefix = hfrOf(hospital) ?? String(hospital.id);
  const year = Number(ctx.now.slice(0, 4));
  const n = await ctx.nextBillNumber(prefix, year);
  return `${prefix}/${year}/${String(n).padStart(6, '0')}`;
}

function hfrOf(org: JsonObject): string | undefined {
  for (const i of asArray(org.identifier)) {
    if (!isJsonObject(i) || typeof i.system !== 'string' || typeof i.value !== 'string') continue;
    if (HFR_SYSTEMS.has(i.system.replace(/\/+$/, '')) && i.value.trim() !== '') return i.value.replace(/\s+/g, '');
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Prices (A3)

/**
 * Price lookups of one run, each memoised: by canonical url (R4), by `instance` and by `code` (search parameters the
 * server defines, server/fhir/search/hms.ts) — one indexed probe each, whatever the size of the price list.
 */
class PriceBook {
  private readonly found = new Map<string, Promise<JsonObject | undefined>>();

  constructor(private readonly ctx: WorkflowContext) {}

  /** The first active definition (by id, so the choice is stable) matching `criteria`. */
  private first(criteria: Record<string, string>): Promise<JsonObject | undefined> {
    const q = query({ ...criteria, status: 'active' });
    let hit = this.found.get(q);
    if (!hit) {
      hit = this.ctx.search('ChargeItemDefinition', q).then((all) => all.sort(byId)[0]);
      this.found.set(q, hit);
    }
    return hit;
  }

  /** The active definition with this canonical url (`url|version` pins a version). */
  byUrl(canonical: string): Promise<JsonObject | undefined> {
    const [url, version] = canonical.split('|');
    return this.first({ url, ...(version ? { version } : {}) });
  }

  /** §0: `consult-{PractitionerRole id}`, else the hospital's `consult-org-{Organization id}`. */
  async consultation(visit: Visit): Promise<JsonObject | undefined> {
    const doctor = visit.roleId ? await this.byUrl(`${BASE}/ChargeItemDefinition/consult-${visit.roleId}`) : undefined;
    return doctor ?? this.byUrl(`${BASE}/ChargeItemDefinition/consult-org-${visit.hospitalId}`);
  }

  /** The active definition whose `instance` references `reference` (e.g. `Medication/1`). */
  byInstance(reference: string): Promise<JsonObject | undefined> {
    return this.first({ instance: reference });
  }

  /**
   * A medicine's price: the definition whose `instance` is one of the dispensed Medications (§0), else (one price
   * for every batch of a product) one whose `code` shares a coding with the product's code.
   */
  async medicine(medicationIds: string[], code: JsonValue | undefined): Promise<JsonObject | undefined> {
    for (const id of medicationIds) {
      const found = await this.byInstance(`Medication/${id}`);
      if (found) return found;
    }
    return this.byCode(code);
  }

  /** The active definition whose `code` shares a coding (system + code) with `concept`. */
  byCode(concept: JsonValue | undefined): Promise<JsonObject | undefined> {
    const wanted = codings(concept);
    if (wanted.length === 0) return Promise.resolve(undefined);
    return this.first({ code: wanted.map(escapeToken).join(',') });
  }

  read(resourceType: string, id: string): Promise<JsonObject | undefined> {
    return this.ctx.read(resourceType, id);
  }
}

/** A search value with FHIR's escapes (`,` `|` `$` `\\`) inside each part of `system|code`. */
function escapeToken(systemAndCode: string): string {
  const bar = systemAndCode.indexOf('|');
  const esc = (v: string) => v.replace(/[\\,|$]/g, (c) => `\\${c}`);
  return `${esc(systemAndCode.slice(0, bar))}|${esc(systemAndCode.slice(bar + 1))}`;
}

const byId = (a: JsonObject, b: JsonObject): number => String(a.id).localeCompare(String(b.id));

function codings(concept: JsonValue | undefined): string[] {
  if (!isJsonObject(concept)) return [];
  return asArray(concept.coding)
    .filter(isJsonObject)
    .filter((c) => typeof c.system === 'string' && typeof c.code === 'string')
    .map((c) => `${String(c.system)}|${String(c.code)}`);
}

/** The definition that prices `item`: its definitionCanonical, else the catalogue rules of its kind (§0). */
async function definitionFor(book: PriceBook, visit: Visit, item: JsonObject): Promise<JsonObject | undefined> {
  for (const canonical of asArray(item.definitionCanonical)) {
    if (typeof canonical !== 'string') continue;
    const found = await book.byUrl(canonical);
    if (found) return found;
  }
  const key = keyOf(item) ?? '';
  if (key.startsWith('consult:')) return book.consultation(visit);
  const medication = refId(item.productReference, 'Medication');
  if (medication) return book.medicine([medication], (await book.read('Medication', medication))?.code);
  return (await book.byCode(item.productCodeableConcept)) ?? (keyOf(item) === undefined ? book.byCode(item.code) : undefined);
}

async function priceItem(book: PriceBook, visit: Visit, item: JsonObject): Promise<{ line?: PricedLine; definition?: string; why?: string }> {
  const quantity = (isJsonObject(item.quantity) ? parseDecimal(item.quantity.value) : undefined) ?? ONE;
  const override: LineOverride = {};
  if (isJsonObject(item.priceOverride)) {
    if (item.priceOverride.currency !== undefined && item.priceOverride.currency !== CURRENCY) {
      return { why: `priceOverride in ${String(item.priceOverride.currency)}, not ${CURRENCY}` };
    }
    override.priceOverride = parseDecimal(item.priceOverride.value);
  }
  override.factorOverride = parseDecimal(item.factorOverride);
  const definition = await definitionFor(book, visit, item);
  if (!definition && !override.priceOverride) return { why: 'no active ChargeItemDefinition' };
  const result = definition ? unitPrice(definition) : undefined;
  if (result && 'unpriced' in result && !override.priceOverride) return { why: result.unpriced };
  const price = result && 'price' in result ? result.price : undefined;
  return { line: priceLine(price, quantity, override), definition: price?.url };
}

/** The product's display text, else the code's (for the unpriced note). */
async function itemDisplay(ctx: WorkflowContext, item: JsonObject): Promise<string | undefined> {
  if (isJsonObject(item.productReference)) {
    if (typeof item.productReference.display === 'string') return item.productReference.display;
    const id = refId(item.productReference, 'Medication');
    const medication = id ? await ctx.read('Medication', id) : undefined;
    const text = displayOf(medication?.code);
    if (text) return text;
  }
  return displayOf(item.productCodeableConcept) ?? displayOf(item.code);
}

function displayOf(concept: JsonValue | undefined): string | undefined {
  if (!isJsonObject(concept)) return undefined;
  if (typeof concept.text === 'string' && concept.text !== '') return concept.text;
  const coding = asArray(concept.coding).find((c) => isJsonObject(c) && typeof c.display === 'string') as JsonObject | undefined;
  return coding ? String(coding.display) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------

function query(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

/** The id in a reference `Type/id` (relative, absolute or versioned) of `type`. */
function refId(ref: JsonValue | undefined, type: string): string | undefined {
  if (!isJsonObject(ref) || typeof ref.reference !== 'string') return undefined;
  const m = /(?:^|\/)([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref.reference);
  return m && m[1] === type ? m[2] : undefined;
}
