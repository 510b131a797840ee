/**
 * A dispense cancelled after its visit was billed (HMS-DOMAIN.md §0 "cancellations"; billing.dispenseCancelled):
 * on an issued invoice → a credit ChargeItem (quantity −q) on a supplementary invoice; on a draft → the line is
 * dropped and the draft recomputed. A pharmacist cancels the dispense (dispensing passes it on to billing).
 */
import { startServer, type Json, type TestServer } from '../harness';
import {
  type Hospital,
  SID,
  create,
  dispense,
  encounter,
  hospital,
  invoicesOf,
  keyOf,
  lineItems,
  medicine,
  patient,
  search,
  totals,
} from './billing-data';

let server: TestServer;
let city: Hospital;
let patientId: string;
let paracetamol: Json;
let unpriced: Json;

beforeAll(async () => {
  server = await startServer({ workflows: true });
  city = await hospital(server, 'Arogya City Hospital, Bengaluru', 'IN2910000123');
  patientId = (await patient(server)).id as string;
  paracetamol = await medicine(server, 'Paracetamol 500 mg tablet', 2.35, 3.0);
  unpriced = await medicine(server, 'Ondansetron 4 mg tablet', null);
});
afterAll(async () => server?.close());

async function concludedVisit(dispenses: [Json, number][]): Promise<{ id: string; dispenses: Json[] }> {
  const id = (await create(server, encounter('in-progress', patientId, city))).id as string;
  const made: Json[] = [];
  for (const [m, q] of dispenses) made.push(await create(server, dispense(id, patientId, m, q, city)));
  const r = await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('finished', patientId, city), id } });
  expect(r.status).toBe(200);
  return { id, dispenses: made };
}

async function cancel(d: Json): Promise<void> {
  const current = (await server.request('GET', `/MedicationDispense/${d.id}`)).body as Json;
  const r = await server.request('PUT', `/MedicationDispense/${d.id}`, { body: { ...current, status: 'cancelled' } });
  expect(r.status).toBe(200);
}

const itemByKey = async (key: string): Promise<Json | undefined> =>
  (await search(server, `ChargeItem?identifier=${encodeURIComponent(`${SID}/chargeitem-key|${key}`)}`))[0];

test('a dispense cancelled after its visit was invoiced is credited (quantity −q) on a supplementary invoice', async () => {
  const { id, dispenses } = await concludedVisit([[paracetamol, 10]]);
  const [first] = await invoicesOf(server, id);
  expect(first.status).toBe('issued');
  const original = (await itemByKey(`dispense:MedicationDispense/${dispenses[0].id}`)) as Json;
  expect(original.status).toBe('billed');

  await cancel(dispenses[0]);
  const credit = (await itemByKey(`credit:MedicationDispense/${dispenses[0].id}`)) as Json;
  expect(credit).toMatchObject({
    status: 'billed',
    partOf: [{ reference: `ChargeItem/${original.id}` }],
    quantity: { value: -10 },
    context: { reference: `Encounter/${id}` },
    productReference: { reference: `Medication/${paracetamol.id}` },
  });
  expect((await search(server, `ChargeItem?_id=${original.id}`))[0].status).toBe('billed');
  const [same, supplementary, ...more] = await invoicesOf(server, id);
  expect(more).toEqual([]);
  expect((same.meta as Json).versionId).toBe((first.meta as Json).versionId);
  expect(keyOf(supplementary)).toBe(`Encounter/${id}#2`);
  expect(supplementary.status).toBe('issued');
  expect(lineItems(supplementary)).toEqual([credit.id]);
  // The exact negative of the original line: −23.50, taxes −1.41 each, MRP −30.00 (informational).
  expect(totals(supplementary)).toEqual({ base: -23.5, 'informational MRP': -30, 'tax CGST': -1.41, 'tax SGST': -1.41 });
  expect(supplementary.totalGross).toEqual({ value: -26.32, currency: 'INR' });

  // Cancelling again (or re-saving the cancelled dispense) credits nothing more.
  const current = (await server.request('GET', `/MedicationDispense/${dispenses[0].id}`)).body as Json;
  expect(
    (await server.request('PUT', `/MedicationDispense/${dispenses[0].id}`, { body: { ...current, note: [{ text: 'returned to shelf' }] } })).status,
  ).toBe(200);
  expect(await invoicesOf(server, id)).toHaveLength(2);
});

test('a dispense cancelled while the invoice is still a draft leaves it, and the draft is recomputed', async () => {
  const { id, dispenses } = await concludedVisit([
    [paracetamol, 10],
    [unpriced, 4],
  ]);
  const [draft] = await invoicesOf(server, id);
  expect(draft.status).toBe('draft');
  expect(lineItems(draft)).toHaveLength(3);
  expect(draft.totalNet).toEqual({ value: 523.5, currency: 'INR' });

  await cancel(dispenses[0]);
  const item = (await itemByKey(`dispense:MedicationDispense/${dispenses[0].id}`)) as Json;
  expect(item.status).toBe('aborted');
  expect(await itemByKey(`credit:MedicationDispense/${dispenses[0].id}`)).toBeUndefined();
  const [recomputed, ...more] = await invoicesOf(server, id);
  expect(more).toEqual([]);
  expect(recomputed.id).toBe(draft.id);
  expect(recomputed.status).toBe('draft');
  expect(lineItems(recomputed)).not.toContain(item.id);
  expect(lineItems(recomputed)).toHaveLength(2);
  expect(recomputed.totalNet).toEqual({ value: 500, currency: 'INR' });
  expect(recomputed.totalGross).toEqual({ value: 500, currency: 'INR' });
});

test('a dispense cancelled before the visit is concluded is never billed', async () => {
  const id = (await create(server, encounter('in-progress', patientId, city))).id as string;
  const d = await create(server, dispense(id, patientId, paracetamol, 10, city));
  await cancel(d);
  const r = await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('finished', patientId, city), id } });
  expect(r.status).toBe(200);
  expect(await itemByKey(`dispense:MedicationDispense/${d.id}`)).toBeUndefined();
  const [invoice] = await invoicesOf(server, id);
  expect(invoice.totalGross).toEqual({ value: 500, currency: 'INR' });
});
