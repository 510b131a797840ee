/**
 * The whole visit, both workflows for real (HMS-DOMAIN.md §5.1 + §5.2): concluding a visit prepares its
 * prescriptions at the dispensary and bills the consultation and the prepared dispenses on one invoice (not the
 * on-hold or declined ones); a restock resumes the on-hold dispense, which goes on a supplementary invoice; a
 * cancelled prescription credits its billed dispense; cancelling the visit cancels every invoice.
 */
import { startServer, type Json, type TestServer } from '../harness';
import { BASE, invoicesOf, keyOf, lineItems, search, totals } from './billing-data';
import { create, hospital, medication, read, SID, SNOMED, stockItem, stockOf, update, type Hospital } from './hms-dispensary';

const METFORMIN = { code: '325278007', text: 'Metformin 500 mg tablet' };
const CETIRIZINE = { code: '320800006', text: 'Cetirizine 10 mg tablet' };
const PANTOPRAZOLE = { text: 'Pantoprazole 40 mg tablet' };
const PRICE = `${BASE}/CodeSystem/price-component`;

let server: TestServer;
let h: Hospital;

beforeAll(async () => {
  server = await startServer({ workflows: true });
  h = await hospital(server);
  await create(server, {
    resourceType: 'ChargeItemDefinition',
    url: `${BASE}/ChargeItemDefinition/consult-${h.role.id}`,
    status: 'active',
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: 500, currency: 'INR' } }] }],
  });
});
afterAll(async () => server?.close());

function medicinePrice(batch: Json, rate: number, mrp: number): Json {
  const tax = (code: string) => ({ type: 'tax', code: { coding: [{ system: PRICE, code }] }, factor: 0.06 });
  return {
    resourceType: 'ChargeItemDefinition',
    url: `${BASE}/ChargeItemDefinition/medication-${batch.id}`,
    status: 'active',
    instance: [{ reference: `Medication/${batch.id}` }],
    propertyGroup: [
      {
        priceComponent: [
          { type: 'base', amount: { value: rate, currency: 'INR' } },
          { type: 'informational', code: { coding: [{ system: PRICE, code: 'MRP' }] }, amount: { value: mrp, currency: 'INR' } },
          tax('CGST'),
          tax('SGST'),
        ],
      },
    ],
  };
}

function prescription(encounterId: string, product: { code?: string; text: string }, qty: number, n: number): Json {
  return {
    resourceType: 'MedicationRequest',
    identifier: [{ system: `${SID}/prescription-id`, value: `RX-B-${encounterId}-${n}` }],
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: {
      ...(product.code ? { coding: [{ system: SNOMED, code: product.code, display: product.text }] } : {}),
      text: product.text,
    },
    subject: { reference: `Patient/${h.patient.id}` },
    encounter: { reference: `Encounter/${encounterId}` },
    requester: { reference: `PractitionerRole/${h.role.id}` },
    authoredOn: `2026-12-05T09:1${n}:00+05:30`,
    dosageInstruction: [{ text: '1 tablet twice a day after food' }],
    dispenseRequest: { quantity: { value: qty, unit: 'tablet' } },
  };
}

const dispenseFor = async (request: Json): Promise<Json> =>
  (await search(server, `MedicationDispense?prescription=MedicationRequest/${request.id}`))[0];
const itemsOf = (encounterId: string) => search(server, `ChargeItem?context=Encounter/${encounterId}`);
const keyOfItem = (i: Json): string => (i.identifier as Json[]).find((x) => x.system === `${SID}/chargeitem-key`)?.value as string;

test('a concluded visit: dispenses prepared and billed together; restock → supplementary; cancelled prescription → credit; cancelled visit → all cancelled', async () => {
  const metformin = await medication(server, METFORMIN, { lot: 'MET-2611', expiry: '2027-11-30' });
  const cetirizine = await medication(server, CETIRIZINE, { lot: 'CET-2605', expiry: '2027-05-31' });
  const metStock = await stockItem(server, h, metformin, 100);
  await stockItem(server, h, cetirizine, 2, { reorderQuantity: 50 });
  await create(server, medicinePrice(metformin, 1.25, 1.6));
  await create(server, medicinePrice(cetirizine, 1.9, 2.5));

  const visit = await create(server, {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    subject: { reference: `Patient/${h.patient.id}` },
    participant: [{ individual: { reference: `PractitionerRole/${h.role.id}` } }],
    period: { start: '2026-12-05T09:00:00+05:30' },
    serviceProvider: { reference: `Organization/${h.org.id}` },
  });
  const id = visit.id as string;
  const rxMet = await create(server, prescription(id, METFORMIN, 30, 1));
  const rxCet = await create(server, prescription(id, CETIRIZINE, 10, 2));
  const rxPan = await create(server, prescription(id, PANTOPRAZOLE, 14, 3));

  const put = await server.request('PUT', `/Encounter/${id}`, {
    body: { ...visit, status: 'finished', period: { start: '2026-12-05T09:00:00+05:30', end: '2026-12-05T09:20:00+05:30' } },
  });
  expect(put.status).toBe(200);

  // Dispensing ran first: metformin prepared (30 reserved), cetirizine on hold (2 < 10), pantoprazole declined.
  const dMet = await dispenseFor(rxMet);
  const dCet = await dispenseFor(rxCet);
  const dPan = await dispenseFor(rxPan);
  expect([dMet.status, dCet.status, dPan.status]).toEqual(['preparation', 'on-hold', 'declined']);
  expect(await stockOf(server, metStock)).toEqual({ onHand: 100, reserved: 30 });

  // Billing: consultation + the prepared dispense only. 30 × 1.25 = 37.50; 6% = 2.25 each; MRP 48.00.
  const items = await itemsOf(id);
  expect(items.map(keyOfItem).sort()).toEqual([`consult:Encounter/${id}`, `dispense:MedicationDispense/${dMet.id}`].sort());
  const [first, ...none] = await invoicesOf(server, id);
  expect(none).toEqual([]);
  expect(first.status).toBe('issued');
  expect(totals(first)).toEqual({ base: 537.5, 'informational MRP': 48, 'tax CGST': 2.25, 'tax SGST': 2.25 });
  expect(first.totalGross).toEqual({ value: 542, currency: 'INR' });

  // Restock: a new cetirizine batch arrives; the on-hold dispense resumes (2 of the old batch + 8 of the new) and
  // is billed on a supplementary invoice: 10 × 1.90 = 19.00; 6% = 1.14 each; MRP 25.00.
  const fresh = await medication(server, CETIRIZINE, { lot: 'CET-2712', expiry: '2027-12-31' });
  await create(server, {
    resourceType: 'SupplyDelivery',
    status: 'completed',
    suppliedItem: { quantity: { value: 20 }, itemReference: { reference: `Medication/${fresh.id}` } },
    destination: { reference: `Location/${h.pharmacy.id}` },
    supplier: { reference: `Organization/${h.org.id}` },
  });
  expect((await dispenseFor(rxCet)).status).toBe('preparation');
  const afterRestock = await invoicesOf(server, id);
  expect(afterRestock.map(keyOf)).toEqual([`Encounter/${id}`, `Encounter/${id}#2`]);
  const second = afterRestock[1];
  expect(second.status).toBe('issued');
  const cetItem = (await itemsOf(id)).find((i) => keyOfItem(i) === `dispense:MedicationDispense/${dCet.id}`) as Json;
  expect(lineItems(second)).toEqual([cetItem.id]);
  expect(totals(second)).toEqual({ base: 19, 'informational MRP': 25, 'tax CGST': 1.14, 'tax SGST': 1.14 });
  expect(second.totalGross).toEqual({ value: 21.28, currency: 'INR' });

  // The doctor cancels the metformin prescription: its dispense is cancelled, stock released, and the billed
  // item credited on supplementary invoice #3.
  await update(server, { ...(await read(server, `MedicationRequest/${rxMet.id}`)), status: 'cancelled' });
  expect((await dispenseFor(rxMet)).status).toBe('cancelled');
  expect(await stockOf(server, metStock)).toEqual({ onHand: 100, reserved: 0 });
  const afterCancel = await invoicesOf(server, id);
  expect(afterCancel.map(keyOf)).toEqual([`Encounter/${id}`, `Encounter/${id}#2`, `Encounter/${id}#3`]);
  expect(afterCancel[2].totalGross).toEqual({ value: -42, currency: 'INR' });
  const credit = (await itemsOf(id)).find((i) => keyOfItem(i) === `credit:MedicationDispense/${dMet.id}`) as Json;
  expect(credit).toMatchObject({ status: 'billed', quantity: { value: -30 } });
  // The first invoice is untouched by all this.
  expect((afterCancel[0].meta as Json).versionId).toBe((first.meta as Json).versionId);

  // Cancelling the visit cancels every invoice and marks every item entered-in-error; the cetirizine dispense
  // (not handed over) is cancelled too.
  const current = await read(server, `Encounter/${id}`);
  await update(server, { ...current, status: 'cancelled' });
  const cancelled = await invoicesOf(server, id);
  expect(cancelled.map((i) => [keyOf(i), i.status, i.cancelledReason])).toEqual([
    [`Encounter/${id}`, 'cancelled', `Encounter/${id} is cancelled`],
    [`Encounter/${id}#2`, 'cancelled', `Encounter/${id} is cancelled`],
    [`Encounter/${id}#3`, 'cancelled', `Encounter/${id} is cancelled`],
  ]);
  expect((await itemsOf(id)).map((i) => i.status)).toEqual(Array(4).fill('entered-in-error'));
  expect((await dispenseFor(rxCet)).status).toBe('cancelled');
});

test('20 concurrent PUTs concluding a visit with prescriptions: one dispense per line, one ChargeItem per dispense, one invoice', async () => {
  const amlodipine = { code: '319283006', text: 'Amlodipine 5 mg tablet' };
  const batch = await medication(server, amlodipine, { lot: 'AML-2702', expiry: '2027-02-28' });
  const stock = await stockItem(server, h, batch, 60);
  await create(server, medicinePrice(batch, 0.85, 1.2));
  const visit = await create(server, {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    subject: { reference: `Patient/${h.patient.id}` },
    participant: [{ individual: { reference: `PractitionerRole/${h.role.id}` } }],
    serviceProvider: { reference: `Organization/${h.org.id}` },
  });
  const id = visit.id as string;
  const rx1 = await create(server, prescription(id, amlodipine, 15, 1));
  const rx2 = await create(server, prescription(id, amlodipine, 10, 2));
  const puts = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      server.request('PUT', `/Encounter/${id}`, {
        body: {
          ...visit,
          status: 'finished',
          period: { start: '2026-12-05T09:00:00+05:30', end: `2026-12-05T10:${String(i).padStart(2, '0')}:00+05:30` },
        },
      }),
    ),
  );
  expect(puts.map((p) => p.status)).toEqual(Array(20).fill(200));
  const d1 = await search(server, `MedicationDispense?prescription=MedicationRequest/${rx1.id}`);
  const d2 = await search(server, `MedicationDispense?prescription=MedicationRequest/${rx2.id}`);
  expect([d1.length, d2.length]).toEqual([1, 1]);
  expect(await stockOf(server, stock)).toEqual({ onHand: 60, reserved: 25 });
  expect((await itemsOf(id)).map(keyOfItem).sort()).toEqual(
    [`consult:Encounter/${id}`, `dispense:MedicationDispense/${d1[0].id}`, `dispense:MedicationDispense/${d2[0].id}`].sort(),
  );
  const invoices = await invoicesOf(server, id);
  expect(invoices).toHaveLength(1);
  // 500 + 15 × 0.85 (12.75; 6% = 0.765 → 0.77) + 10 × 0.85 (8.50; 6% = 0.51)
  expect(invoices[0].totalNet).toEqual({ value: 521.25, currency: 'INR' });
  expect(invoices[0].totalGross).toEqual({ value: 523.81, currency: 'INR' });
});
