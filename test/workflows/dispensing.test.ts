/**
 * Workflow B, dispensary preparation (HMS-DOMAIN §0, §5.2, §5.3), through real HTTP on realistic HMS data: a
 * visit's conclusion prepares each prescription line at the hospital's dispensary with stock reserved (FEFO over
 * batches, expired ones skipped); short stock puts it on hold with a SupplyRequest for max(shortfall, reorder
 * quantity); no stock item → declined; no dispensary → declined with a note; a completed SupplyDelivery resumes
 * on-hold dispenses in prescription order; completion consumes, cancellation releases, an error after completion
 * returns stock; re-saving a finished visit does nothing.
 */
import { useServer, type Json } from '../harness';
import {
  create,
  EXT,
  hospital,
  medication,
  read,
  search,
  SID,
  SNOMED,
  STATUS_REASON,
  stockItem,
  stockOf,
  update,
  type Hospital,
} from './hms-dispensary';

const server = useServer({ config: { workflows: true } });

const PARACETAMOL = { code: '322236009', text: 'Paracetamol 500 mg tablet' };
const AMOXICILLIN = { code: '323509004', text: 'Amoxicillin 500 mg capsule' };
const METFORMIN = { code: '325278007', text: 'Metformin 500 mg tablet' };
const CETIRIZINE = { code: '320800006', text: 'Cetirizine 10 mg tablet' };
const PANTOPRAZOLE = { text: 'Pantoprazole 40 mg tablet' }; // no coding: matched by text

let h: Hospital;
let prescriptionSeq = 0;

beforeAll(async () => {
  h = await hospital(server);
});

function prescription(product: { code?: string; text: string }, qty: number | undefined, extra: Json = {}): Json {
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: {
      ...(product.code ? { coding: [{ system: SNOMED, code: product.code, display: product.text }] } : {}),
      text: product.text,
    },
    authoredOn: '2026-12-05T09:30:00+05:30',
    dosageInstruction: [{ text: '1 tablet twice a day after food', timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } } }],
    ...(qty !== undefined ? { dispenseRequest: { quantity: { value: qty, unit: 'tablet' } } } : {}),
    ...extra,
  };
}

interface Visit {
  encounter: Json;
  requests: Json[];
}

/** An OPD visit at `hosp` with its prescription lines (in progress: nothing dispensed yet). */
async function openVisit(hosp: Hospital, lines: Json[]): Promise<Visit> {
  const encounter = await create(server, {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    type: [{ coding: [{ system: SNOMED, code: '11429006', display: 'Consultation' }] }],
    subject: { reference: `Patient/${hosp.patient.id}` },
    participant: [{ individual: { reference: `Practitioner/${hosp.practitioner.id}` } }],
    period: { start: '2026-12-05T09:00:00+05:30' },
    serviceProvider: { reference: `Organization/${hosp.org.id}` },
  });
  const group = `RX-${++prescriptionSeq}`;
  const requests: Json[] = [];
  for (const [i, line] of lines.entries()) {
    requests.push(
      await create(server, {
        ...line,
        identifier: [{ system: `${SID}/prescription-id`, value: `${group}-${i + 1}` }],
        groupIdentifier: { system: `${SID}/prescription-id`, value: group },
        subject: { reference: `Patient/${hosp.patient.id}` },
        encounter: { reference: `Encounter/${encounter.id}` },
        requester: { reference: `PractitionerRole/${hosp.role.id}` },
      }),
    );
  }
  return { encounter, requests };
}

/** The doctor concludes the visit (PUT status finished); returns the response. */
async function conclude(v: Visit, headers: Record<string, string> = {}): Promise<Json> {
  const res = await server.request('PUT', `/Encounter/${v.encounter.id}`, {
    body: { ...v.encounter, status: 'finished', period: { start: '2026-12-05T09:00:00+05:30', end: '2026-12-05T09:20:00+05:30' } },
    headers,
  });
  expect(res.status).toBe(200);
  v.encounter = res.body.resourceType === 'Encounter' ? res.body : await read(server, `Encounter/${v.encounter.id}`);
  return res;
}

async function dispensesOf(request: Json): Promise<Json[]> {
  return search(server, `MedicationDispense?prescription=MedicationRequest/${request.id}`);
}

async function dispenseOf(request: Json): Promise<Json> {
  const all = await dispensesOf(request);
  expect(all).toHaveLength(1);
  return all[0];
}

function reasonCode(d: Json): string | undefined {
  const c = d.statusReasonCodeableConcept?.coding?.[0];
  return c && c.system === STATUS_REASON ? c.code : undefined;
}

async function supplyRequestFor(d: Json): Promise<Json[]> {
  return search(server, `SupplyRequest?identifier=${encodeURIComponent(`${SID}/supply-key|MedicationDispense/${d.id}`)}`);
}

describe('at the visit conclusion', () => {
  test('a stocked prescription is prepared at the dispensary with its stock reserved', async () => {
    const batch = await medication(server, PARACETAMOL, { lot: 'PCM-2611', expiry: '2027-11-30' });
    const item = await stockItem(server, h, batch, 200);
    const v = await openVisit(h, [prescription(PARACETAMOL, 10)]);
    expect(await dispensesOf(v.requests[0])).toEqual([]); // nothing before the conclusion
    await conclude(v);

    const d = await dispenseOf(v.requests[0]);
    expect(d).toMatchObject({
      status: 'preparation',
      identifier: [{ system: `${SID}/dispense-key`, value: `MedicationRequest/${v.requests[0].id}` }],
      authorizingPrescription: [{ reference: `MedicationRequest/${v.requests[0].id}` }],
      context: { reference: `Encounter/${v.encounter.id}` },
      subject: { reference: `Patient/${h.patient.id}` },
      medicationReference: { reference: `Medication/${batch.id}` },
      quantity: { value: 10, unit: 'tablet' },
      location: { reference: `Location/${h.pharmacy.id}` },
      performer: [{ actor: { reference: `Organization/${h.org.id}` } }],
      dosageInstruction: v.requests[0].dosageInstruction,
      type: { coding: [{ code: 'FF' }] },
    });
    expect(await stockOf(server, item)).toEqual({ onHand: 200, reserved: 10 });

    // A Provenance names the dispensing workflow as the author of the dispense.
    const prov = await search(server, `Provenance?target=MedicationDispense/${d.id}`);
    expect(prov).toHaveLength(1);
    const device = await read(server, prov[0].agent[0].who.reference);
    expect(device.identifier[0]).toEqual({ system: `${SID}/workflow`, value: 'dispensing' });
  });

  test('FEFO across two batches; an expired batch is skipped', async () => {
    const expired = await medication(server, AMOXICILLIN, { lot: 'AMX-OLD', expiry: '2026-10-31' });
    const early = await medication(server, AMOXICILLIN, { lot: 'AMX-0127', expiry: '2027-01-31' });
    const late = await medication(server, AMOXICILLIN, { lot: 'AMX-0927', expiry: '2027-09-30' });
    const sLate = await stockItem(server, h, late, 40);
    const sExpired = await stockItem(server, h, expired, 500);
    const sEarly = await stockItem(server, h, early, 6);
    const v = await openVisit(h, [prescription(AMOXICILLIN, 15)]);
    await conclude(v);

    const d = await dispenseOf(v.requests[0]);
    expect(d.status).toBe('preparation');
    expect(d.medicationReference).toBeUndefined();
    expect(d.medicationCodeableConcept.coding[0]).toMatchObject({ system: SNOMED, code: AMOXICILLIN.code });
    const batches = d.extension
      .filter((e: Json) => e.url === 'https://arogya.dev/fhir/StructureDefinition/dispense-batch')
      .map((e: Json) => [
        e.extension.find((x: Json) => x.url === 'medication').valueReference.reference,
        e.extension.find((x: Json) => x.url === 'quantity').valueQuantity.value,
      ]);
    expect(batches).toEqual([
      [`Medication/${early.id}`, 6],
      [`Medication/${late.id}`, 9],
    ]);
    expect(d.note.map((n: Json) => n.text).join(' ')).toMatch(/AMX-0127.*AMX-0927/);
    expect(await stockOf(server, sEarly)).toEqual({ onHand: 6, reserved: 6 });
    expect(await stockOf(server, sLate)).toEqual({ onHand: 40, reserved: 9 });
    expect(await stockOf(server, sExpired)).toEqual({ onHand: 500, reserved: 0 });
  });

  test('stocked but short → on-hold (outofstock) and a SupplyRequest for max(shortfall, reorder quantity)', async () => {
    const batch = await medication(server, METFORMIN, { lot: 'MET-0528', expiry: '2028-05-31' });
    const item = await stockItem(server, h, batch, 4, { reorderQuantity: 60 });
    const cet = await medication(server, CETIRIZINE, { lot: 'CTZ-0128', expiry: '2028-01-31' });
    const cetItem = await stockItem(server, h, cet, 1, { reorderQuantity: 5 });
    const v = await openVisit(h, [prescription(METFORMIN, 30), prescription(CETIRIZINE, 20)]);
    await conclude(v);

    const met = await dispenseOf(v.requests[0]);
    expect(met.status).toBe('on-hold');
    expect(reasonCode(met)).toBe('outofstock');
    expect(met.medicationCodeableConcept.text).toBe(METFORMIN.text);
    expect(await stockOf(server, item)).toEqual({ onHand: 4, reserved: 0 }); // no reservation
    const [sr] = await supplyRequestFor(met);
    expect(sr).toMatchObject({
      status: 'active',
      itemReference: { reference: `Medication/${batch.id}` },
      quantity: { value: 60 }, // reorder quantity 60 > shortfall 26
      deliverTo: { reference: `Location/${h.pharmacy.id}` },
      reasonCode: [{ text: 'out of stock' }],
      reasonReference: [{ reference: `MedicationDispense/${met.id}` }],
    });

    const ctz = await dispenseOf(v.requests[1]);
    expect(ctz.status).toBe('on-hold');
    const [sr2] = await supplyRequestFor(ctz);
    expect(sr2.quantity.value).toBe(19); // shortfall 19 > reorder quantity 5
    expect(await stockOf(server, cetItem)).toEqual({ onHand: 1, reserved: 0 });
  });

  test('not stocked → declined (frr04); matching by text when the prescription has no coding', async () => {
    const panto = await medication(server, PANTOPRAZOLE, { lot: 'PAN-0727', expiry: '2027-07-31' });
    const pantoItem = await stockItem(server, h, panto, 30);
    const v = await openVisit(h, [
      prescription({ code: '999999001', text: 'Azithromycin 500 mg tablet' }, 3),
      prescription({ text: 'PANTOPRAZOLE 40 MG TABLET' }, 14),
    ]);
    const res = await conclude(v, { prefer: 'return=OperationOutcome' });
    const d = await dispenseOf(v.requests[0]);
    expect(d.status).toBe('declined');
    expect(reasonCode(d)).toBe('frr04');
    expect(await supplyRequestFor(d)).toEqual([]);
    expect(JSON.stringify(res.body.issue)).toMatch(/Azithromycin 500 mg tablet not dispensed/);

    const p = await dispenseOf(v.requests[1]);
    expect(p.status).toBe('preparation');
    expect(p.medicationReference.reference).toBe(`Medication/${panto.id}`);
    expect(await stockOf(server, pantoItem)).toEqual({ onHand: 30, reserved: 14 });
  });

  test('no dispensary → declined (frr04) with the note "no dispensary", a warning and a Flag', async () => {
    const clinic = await hospital(server, { dispensary: false });
    const v = await openVisit(clinic, [prescription(PARACETAMOL, 10)]);
    const res = await conclude(v, { prefer: 'return=OperationOutcome' });
    const d = await dispenseOf(v.requests[0]);
    expect(d.status).toBe('declined');
    expect(reasonCode(d)).toBe('frr04');
    expect(d.note.map((n: Json) => n.text).join(' ')).toMatch(/no dispensary/);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.some((i: Json) => i.severity === 'warning' && /no dispensary/.test(i.diagnostics))).toBe(true);
    const flags = await search(server, `Flag?encounter=Encounter/${v.encounter.id}`);
    expect(flags.some((f) => /no dispensary/.test(f.code.text))).toBe(true);
  });

  test('no quantity: computed from timing × supply duration, else 1 with a note', async () => {
    const batch = await medication(server, { code: '317972000', text: 'Ibuprofen 400 mg tablet' }, { lot: 'IBU-1', expiry: '2028-01-31' });
    const item = await stockItem(server, h, batch, 100);
    const v = await openVisit(h, [
      prescription({ code: '317972000', text: 'Ibuprofen 400 mg tablet' }, undefined, {
        dispenseRequest: { expectedSupplyDuration: { value: 5, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' } },
        dosageInstruction: [{ text: '1 tablet three times a day', timing: { repeat: { frequency: 3, period: 1, periodUnit: 'd' } } }],
      }),
      prescription({ code: '317972000', text: 'Ibuprofen 400 mg tablet' }, undefined, { dosageInstruction: [{ text: 'as needed' }] }),
    ]);
    await conclude(v);
    const computed = await dispenseOf(v.requests[0]);
    expect(computed.quantity.value).toBe(15);
    const defaulted = await dispenseOf(v.requests[1]);
    expect(defaulted.quantity.value).toBe(1);
    expect(defaulted.note.map((n: Json) => n.text).join(' ')).toMatch(/defaulted to 1/);
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 16 });
  });

  test('re-saving a finished visit does nothing; a draft prescription is not dispensed', async () => {
    const batch = await medication(server, { code: '387517004', text: 'Paracetamol 650 mg tablet' }, { lot: 'P650', expiry: '2028-03-31' });
    const item = await stockItem(server, h, batch, 50);
    const v = await openVisit(h, [
      prescription({ code: '387517004', text: 'Paracetamol 650 mg tablet' }, 5),
      prescription({ code: '387517004', text: 'Paracetamol 650 mg tablet' }, 5, { status: 'draft' }),
    ]);
    await conclude(v);
    expect(await stockOf(server, item)).toEqual({ onHand: 50, reserved: 5 });
    const first = await dispenseOf(v.requests[0]);
    expect(await dispensesOf(v.requests[1])).toEqual([]);

    // the same finished visit saved again (a note added), twice
    for (const text of ['follow up in a week', 'follow up in two weeks']) {
      const cur = await read(server, `Encounter/${v.encounter.id}`);
      const res = await server.request('PUT', `/Encounter/${v.encounter.id}`, { body: { ...cur, reasonCode: [{ text }] } });
      expect(res.status).toBe(200);
    }
    expect(await dispensesOf(v.requests[0])).toEqual([first]);
    expect(await stockOf(server, item)).toEqual({ onHand: 50, reserved: 5 });
  });
});

describe('restock', () => {
  test('a completed SupplyDelivery raises on-hand and resumes on-hold dispenses in prescription order', async () => {
    const product = { code: '318475005', text: 'Atorvastatin 10 mg tablet' };
    const batch = await medication(server, product, { lot: 'ATV-0127', expiry: '2027-01-31' });
    const item = await stockItem(server, h, batch, 2, { reorderQuantity: 10 });
    // Written out of order: the later prescription is created first.
    const later = await openVisit(h, [prescription(product, 4, { authoredOn: '2026-12-05T11:00:00+05:30' })]);
    const earlier = await openVisit(h, [prescription(product, 8, { authoredOn: '2026-12-05T08:00:00+05:30' })]);
    await conclude(later);
    await conclude(earlier);
    const dLater = await dispenseOf(later.requests[0]);
    const dEarlier = await dispenseOf(earlier.requests[0]);
    expect([dLater.status, dEarlier.status]).toEqual(['on-hold', 'on-hold']);

    // A new batch arrives: 9 more (11 available): the earlier prescription (8) goes first; 3 left < 4.
    const fresh = await medication(server, product, { lot: 'ATV-0628', expiry: '2028-06-30' });
    const delivery = await create(server, {
      resourceType: 'SupplyDelivery',
      status: 'in-progress',
      basedOn: [{ reference: `SupplyRequest/${(await supplyRequestFor(dEarlier))[0].id}` }],
      patient: undefined,
      suppliedItem: { quantity: { value: 9 }, itemReference: { reference: `Medication/${fresh.id}` } },
      destination: { reference: `Location/${h.pharmacy.id}` },
      supplier: { reference: `Organization/${h.org.id}` },
    });
    expect((await dispenseOf(earlier.requests[0])).status).toBe('on-hold'); // not completed yet: nothing
    await update(server, { ...delivery, status: 'completed', occurrenceDateTime: '2026-12-05T12:00:00+05:30' });

    const resumed = await dispenseOf(earlier.requests[0]);
    expect(resumed.status).toBe('preparation');
    expect(resumed.statusReasonCodeableConcept).toBeUndefined();
    expect((await supplyRequestFor(resumed))[0].status).toBe('completed');
    const still = await dispenseOf(later.requests[0]);
    expect(still.status).toBe('on-hold');
    expect((await supplyRequestFor(still))[0].status).toBe('active');

    // The new batch got a stock item of its own at the dispensary; FEFO took the old batch first.
    const newItems = await search(server, `Basic?subject=Medication/${fresh.id}&stock-location=Location/${h.pharmacy.id}`);
    expect(newItems).toHaveLength(1);
    expect(await stockOf(server, item)).toEqual({ onHand: 2, reserved: 2 });
    expect(await stockOf(server, newItems[0])).toEqual({ onHand: 9, reserved: 6 });

    // Another delivery of the same batch tops it up; the later prescription now fits.
    const more = await create(server, {
      resourceType: 'SupplyDelivery',
      status: 'completed',
      suppliedItem: { quantity: { value: 5 }, itemReference: { reference: `Medication/${fresh.id}` } },
      destination: { reference: `Location/${h.pharmacy.id}` },
    });
    expect(more.status).toBe('completed');
    expect((await dispenseOf(later.requests[0])).status).toBe('preparation');
    expect(await stockOf(server, newItems[0])).toEqual({ onHand: 14, reserved: 10 });
  });
});

test('restock of a product known only by its text (no coding)', async () => {
  const product = { text: 'Ondansetron 4 mg orally disintegrating tablet' };
  const batch = await medication(server, product, { lot: 'OND-1', expiry: '2028-01-31' });
  const item = await stockItem(server, h, batch, 1);
  const v = await openVisit(h, [prescription({ text: 'ondansetron 4 mg orally disintegrating tablet' }, 5)]);
  await conclude(v);
  expect((await dispenseOf(v.requests[0])).status).toBe('on-hold');
  await create(server, {
    resourceType: 'SupplyDelivery',
    status: 'completed',
    suppliedItem: { quantity: { value: 10 }, itemReference: { reference: `Medication/${batch.id}` } },
    destination: { reference: `Location/${h.pharmacy.id}` },
  });
  const d = await dispenseOf(v.requests[0]);
  expect(d).toMatchObject({ status: 'preparation', medicationReference: { reference: `Medication/${batch.id}` } });
  expect(await stockOf(server, item)).toEqual({ onHand: 11, reserved: 5 });
});

describe('the pharmacist and cancellations', () => {
  let batch: Json;
  let item: Json;
  const product = { code: '386864001', text: 'Amlodipine 5 mg tablet' };

  beforeAll(async () => {
    batch = await medication(server, product, { lot: 'AML-0828', expiry: '2028-08-31' });
    item = await stockItem(server, h, batch, 100);
  });

  test('completion consumes the reservation once; entered-in-error after completion puts it back', async () => {
    const v = await openVisit(h, [prescription(product, 30)]);
    await conclude(v);
    let d = await dispenseOf(v.requests[0]);
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 30 });
    d = await update(server, { ...d, status: 'in-progress', whenPrepared: '2026-12-05T10:00:00+05:30' });
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 30 });
    d = await update(server, { ...d, status: 'completed', whenHandedOver: '2026-12-05T10:05:00+05:30' });
    expect(await stockOf(server, item)).toEqual({ onHand: 70, reserved: 0 });
    // saved again (a note), still completed: nothing more
    d = await update(server, { ...d, note: [...(d.note ?? []), { text: 'counselled on dosage' }] });
    expect(await stockOf(server, item)).toEqual({ onHand: 70, reserved: 0 });
    // a cancelled prescription after hand-over leaves the completed dispense alone
    await update(server, { ...(await read(server, `MedicationRequest/${v.requests[0].id}`)), status: 'cancelled' });
    expect((await dispenseOf(v.requests[0])).status).toBe('completed');
    d = await update(server, { ...(await read(server, `MedicationDispense/${d.id}`)), status: 'entered-in-error' });
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 0 });
  });

  test('the prescription cancelled before hand-over cancels the dispense and releases its stock', async () => {
    const v = await openVisit(h, [prescription(product, 12)]);
    await conclude(v);
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 12 });
    await update(server, { ...v.requests[0], status: 'stopped' });
    const d = await dispenseOf(v.requests[0]);
    expect(d.status).toBe('cancelled');
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 0 });
  });

  test('the pharmacist cancelling a dispense releases its stock; the visit cancelled cancels the rest', async () => {
    const v = await openVisit(h, [prescription(product, 5), prescription(product, 7), prescription(product, 9)]);
    await conclude(v);
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 21 });
    const [a, b] = [await dispenseOf(v.requests[0]), await dispenseOf(v.requests[1])];
    await update(server, { ...a, status: 'cancelled' });
    expect(await stockOf(server, item)).toEqual({ onHand: 100, reserved: 16 });
    await update(server, { ...b, status: 'completed' });
    expect(await stockOf(server, item)).toEqual({ onHand: 93, reserved: 9 });

    await update(server, { ...(await read(server, `Encounter/${v.encounter.id}`)), status: 'entered-in-error' });
    expect((await dispenseOf(v.requests[1])).status).toBe('completed'); // handed over: stays
    expect((await dispenseOf(v.requests[2])).status).toBe('cancelled');
    expect((await dispenseOf(v.requests[0])).status).toBe('cancelled');
    expect(await stockOf(server, item)).toEqual({ onHand: 93, reserved: 0 });
  });
});

test('the stock reservation is visible as stock-reserved to readers', async () => {
  const items = await search(server, `Basic?stock-location=Location/${h.pharmacy.id}`);
  expect(items.length).toBeGreaterThan(5);
  for (const i of items) expect(i.extension.some((e: Json) => e.url === EXT.onHand)).toBe(true);
});
