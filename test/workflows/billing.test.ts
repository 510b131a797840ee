/**
 * Billing at visit conclusion (HMS-DOMAIN.md §0, §5.1, §5.3; server/workflows/billing.ts) through real HTTP on
 * realistic hospital data: the invoice and its paise arithmetic, unpriced items (draft + note), a late lab report
 * (supplementary invoice), draft recomputation, cancelled visits, payment, concurrent conclusions, bill numbers.
 */
import { startServer, type Json, type TestServer } from '../harness';
import {
  CBC,
  type Hospital,
  LIPID,
  SID,
  BASE,
  billNumberOf,
  create,
  dispense,
  encounter,
  hospital,
  invoicesOf,
  keyOf,
  labPrice,
  lineItems,
  medicine,
  medicinePrice,
  patient,
  report,
  search,
  totals,
} from './billing-data';

let server: TestServer;
let city: Hospital;
let patientId: string;
let paracetamol: Json;
let amoxicillin: Json;
let cetirizine: Json;
const year = new Date().getUTCFullYear();

beforeAll(async () => {
  server = await startServer({ workflows: true });
  city = await hospital(server, 'Arogya City Hospital, Bengaluru', 'IN2910000123');
  patientId = (await patient(server)).id as string;
  paracetamol = await medicine(server, 'Paracetamol 500 mg tablet', 2.35, 3.0);
  amoxicillin = await medicine(server, 'Amoxicillin 500 mg capsule', 8.75, 10.5);
  cetirizine = await medicine(server, 'Cetirizine 10 mg tablet', null);
  await labPrice(server, CBC, 350);
});
afterAll(async () => server?.close());

/** A visit at hospital `h` (null: no serviceProvider and no participant). */
async function visit(h: Hospital | null = city, extra: Json = {}): Promise<string> {
  return (await create(server, encounter('in-progress', patientId, h ?? undefined, extra))).id as string;
}

async function conclude(id: string, h: Hospital | null = city, extra: Json = {}, prefer?: string) {
  const r = await server.request('PUT', `/Encounter/${id}`, {
    body: {
      ...encounter('finished', patientId, h ?? undefined, {
        period: { start: '2026-12-05T09:00:00+05:30', end: '2026-12-05T09:25:00+05:30' },
        ...extra,
      }),
      id,
    },
    headers: prefer ? { prefer } : {},
  });
  expect(r.status).toBe(200);
  return r;
}

async function read(ref: string): Promise<Json> {
  const r = await server.request('GET', `/${ref}`);
  expect(r.status).toBe(200);
  return r.body as Json;
}

const chargeItems = (encounterId: string) => search(server, `ChargeItem?context=Encounter/${encounterId}`);
const itemKey = (item: Json): string =>
  ((item.identifier as Json[] | undefined)?.find((i) => i.system === `${SID}/chargeitem-key`)?.value as string) ?? '';

test('concluding a visit bills the consultation, prepared dispenses and final lab reports on one issued OPD invoice, in paise', async () => {
  const id = await visit();
  const p = await create(server, dispense(id, patientId, paracetamol, 10, city));
  const a = await create(server, dispense(id, patientId, amoxicillin, 15, city, 'in-progress'));
  await create(server, dispense(id, patientId, paracetamol, 5, city, 'on-hold')); // not billed
  const cbc = await create(server, report(id, patientId, CBC, 'final'));
  await create(server, report(id, patientId, LIPID, 'preliminary')); // not billable yet
  expect(await invoicesOf(server, id)).toEqual([]);

  const put = await conclude(id);
  const [invoice, ...more] = await invoicesOf(server, id);
  expect(more).toEqual([]);
  expect(invoice).toMatchObject({
    status: 'issued',
    type: { coding: [{ system: 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-billing-codes', code: '03', display: 'OPD' }] },
    subject: { reference: `Patient/${patientId}` },
    recipient: { reference: `Patient/${patientId}` },
    issuer: { reference: `Organization/${city.org.id}` },
    participant: [{ actor: { reference: `Practitioner/${city.practitioner.id}` } }],
  });
  expect(put.headers.get('etag')).toBeDefined();
  expect(keyOf(invoice)).toBe(`Encounter/${id}`);
  expect(billNumberOf(invoice)).toBe(`IN2910000123/${year}/000001`);
  expect(invoice.note).toBeUndefined();
  expect((invoice.meta as Json).profile).toEqual([`${BASE}/StructureDefinition/hms-invoice`]);

  // The visit's account, and ChargeItems: consultation, two dispenses, one report (not the on-hold dispense or the preliminary report).
  const [account] = await search(server, `Account?identifier=${encodeURIComponent(`${SID}/encounter-account|${id}`)}`);
  expect(account).toMatchObject({
    status: 'active',
    subject: [{ reference: `Patient/${patientId}` }],
    owner: { reference: `Organization/${city.org.id}` },
  });
  expect(invoice.account).toEqual({ reference: `Account/${account.id}` });
  const items = await chargeItems(id);
  expect(items.map(itemKey).sort()).toEqual(
    [
      `consult:Encounter/${id}`,
      `dispense:MedicationDispense/${p.id}`,
      `dispense:MedicationDispense/${a.id}`,
      `report:DiagnosticReport/${cbc.id}`,
    ].sort(),
  );
  for (const item of items) {
    expect(item.status).toBe('billed');
    expect(item.account).toEqual([{ reference: `Account/${account.id}` }]);
    expect(item.performingOrganization).toEqual({ reference: `Organization/${city.org.id}` });
  }
  const consult = items.find((i) => itemKey(i).startsWith('consult:')) as Json;
  expect(consult).toMatchObject({
    code: { coding: [{ system: 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-billing-codes', code: '00' }] },
    productCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '11429006' }] },
    performer: [{ actor: { reference: `Practitioner/${city.practitioner.id}` } }],
    definitionCanonical: [`${BASE}/ChargeItemDefinition/consult-${city.role.id}`],
    quantity: { value: 1 },
  });
  const amoxItem = items.find((i) => itemKey(i) === `dispense:MedicationDispense/${a.id}`) as Json;
  expect(amoxItem).toMatchObject({
    code: { coding: [{ code: '05' }] },
    productReference: { reference: `Medication/${amoxicillin.id}` },
    quantity: { value: 15 },
    service: [{ reference: `MedicationDispense/${a.id}` }],
    definitionCanonical: [`${BASE}/ChargeItemDefinition/medication-${amoxicillin.id}`],
  });

  // Lines in order: consultation, medicines, report; arithmetic in paise.
  const byItem = new Map(items.map((i) => [`ChargeItem/${i.id}`, itemKey(i)]));
  const lines = (invoice.lineItem as Json[]).map((l) => ({
    sequence: l.sequence,
    key: byItem.get((l.chargeItemReference as Json).reference as string),
    components: (l.priceComponent as Json[]).map((c) => [
      c.type,
      ((c.code as Json | undefined)?.coding as Json[] | undefined)?.[0]?.code ?? null,
      c.factor,
      (c.amount as Json).value,
    ]),
  }));
  expect(lines).toEqual([
    { sequence: 1, key: `consult:Encounter/${id}`, components: [['base', null, 1, 500]] },
    {
      sequence: 2,
      key: `dispense:MedicationDispense/${p.id}`,
      // 2.35 × 10 = 23.50; 6% = 1.41
      components: [
        ['base', null, 10, 23.5],
        ['informational', 'MRP', 10, 30],
        ['tax', 'CGST', 0.06, 1.41],
        ['tax', 'SGST', 0.06, 1.41],
      ],
    },
    {
      sequence: 3,
      key: `dispense:MedicationDispense/${a.id}`,
      // 8.75 × 15 = 131.25; 6% = 7.875 → 7.88 (half-up)
      components: [
        ['base', null, 15, 131.25],
        ['informational', 'MRP', 15, 157.5],
        ['tax', 'CGST', 0.06, 7.88],
        ['tax', 'SGST', 0.06, 7.88],
      ],
    },
    { sequence: 4, key: `report:DiagnosticReport/${cbc.id}`, components: [['base', null, 1, 350]] },
  ]);
  // totalNet = 500 + 23.50 + 131.25 + 350; taxes 2 × (1.41 + 7.88); MRP (187.50) is informational only.
  expect(totals(invoice)).toEqual({ base: 1004.75, 'informational MRP': 187.5, 'tax CGST': 9.29, 'tax SGST': 9.29 });
  expect(invoice.totalNet).toEqual({ value: 1004.75, currency: 'INR' });
  expect(invoice.totalGross).toEqual({ value: 1023.33, currency: 'INR' });
  // Amounts are written with two decimals.
  const raw = await server.request('GET', `/Invoice/${invoice.id}`);
  expect(raw.text).toMatch(/"totalNet":\s*\{"value":\s*1004\.75,/);
  expect(raw.text).toMatch(/"amount":\s*\{"value":\s*500\.00,/);
  expect(raw.text).toMatch(/"totalGross":\s*\{"value":\s*1023\.33,/);

  // Clients find prices the way billing does: by the server's `instance` and `code` search parameters.
  const byInstance = await search(server, `ChargeItemDefinition?instance=Medication/${amoxicillin.id}&status=active`);
  expect(byInstance.map((d) => d.url)).toEqual([`${BASE}/ChargeItemDefinition/medication-${amoxicillin.id}`]);
  const byCode = await search(server, `ChargeItemDefinition?code=${encodeURIComponent(`${CBC.system}|${CBC.code}`)}`);
  expect(byCode.map((d) => d.url)).toEqual([`${BASE}/ChargeItemDefinition/lab-${CBC.code}`]);

  // One Provenance of the billing workflow names the invoice and the triggering Encounter version.
  const [provenance, ...others] = await search(server, `Provenance?target=Invoice/${invoice.id}`);
  expect(others).toEqual([]);
  expect(provenance.entity).toEqual([{ role: 'source', what: { reference: `Encounter/${id}/_history/2` } }]);
  const [device] = await search(server, `Device?identifier=${encodeURIComponent(`${SID}/workflow|billing`)}`);
  expect(JSON.stringify(provenance.agent)).toContain(`Device/${device.id}`);

  // Re-saving the finished visit (even changed) bills nothing again.
  await conclude(id, city, { period: { start: '2026-12-05T09:00:00+05:30', end: '2026-12-05T09:30:00+05:30' } });
  const again = await invoicesOf(server, id);
  expect(again.map((i) => [i.id, (i.meta as Json).versionId])).toEqual([[invoice.id, (invoice.meta as Json).versionId]]);

  // Payment: a client moves the invoice issued → balanced; billing leaves it be.
  const paid = await server.request('PUT', `/Invoice/${invoice.id}`, {
    body: { ...invoice, status: 'balanced', paymentTerms: 'Paid in full (UPI)' },
    headers: { 'if-match': `W/"${(invoice.meta as Json).versionId}"` },
  });
  expect(paid.status).toBe(200);
  expect((await read(`Invoice/${invoice.id}`)).status).toBe('balanced');
  expect((await chargeItems(id)).map((i) => i.status)).toEqual(['billed', 'billed', 'billed', 'billed']);
});

test('an item without a price makes the invoice a draft with a note naming it, and a warning on the conclusion', async () => {
  const id = await visit();
  await create(server, dispense(id, patientId, paracetamol, 10, city));
  const c = await create(server, dispense(id, patientId, cetirizine, 5, city));
  const put = await conclude(id, city, {}, 'return=OperationOutcome');
  const [invoice] = await invoicesOf(server, id);
  expect(invoice.status).toBe('draft');
  const unpriced = (await chargeItems(id)).find((i) => itemKey(i) === `dispense:MedicationDispense/${c.id}`) as Json;
  expect(invoice.note).toEqual([{ text: `Unpriced: ChargeItem/${unpriced.id} (Cetirizine 10 mg tablet)` }]);
  // The unpriced line carries no price; the totals are those of what is priced (500 + 23.50; taxes 2 × 1.41).
  const line = (invoice.lineItem as Json[]).find((l) => (l.chargeItemReference as Json).reference === `ChargeItem/${unpriced.id}`) as Json;
  expect(line.priceComponent).toBeUndefined();
  expect(invoice.totalNet).toEqual({ value: 523.5, currency: 'INR' });
  expect(invoice.totalGross).toEqual({ value: 526.32, currency: 'INR' });
  expect(put.body.resourceType).toBe('OperationOutcome');
  expect(JSON.stringify(put.body.issue)).toContain(`ChargeItem/${unpriced.id} (Cetirizine 10 mg tablet) has no price`);
  const flags = await search(server, `Flag?encounter=Encounter/${id}`);
  expect(flags.map((f) => (f.code as Json).text).join()).toContain('Cetirizine 10 mg tablet');

  // A draft is recomputed in place when a billable item arrives: the CBC report, and, now that cetirizine has a
  // price, the whole draft is priced and issued.
  await create(server, report(id, patientId, CBC, 'final'));
  const [draft, ...none] = await invoicesOf(server, id);
  expect(none).toEqual([]);
  expect(draft.id).toBe(invoice.id);
  expect(draft.status).toBe('draft');
  expect(lineItems(draft)).toHaveLength(4);
  expect(draft.totalNet).toEqual({ value: 873.5, currency: 'INR' });
  expect(billNumberOf(draft)).toBe(billNumberOf(invoice));

  await medicinePrice(server, cetirizine, 1.9, 2.5); // 5 × 1.90 = 9.50; 6% = 0.57
  await labPrice(server, LIPID, 600);
  await create(server, report(id, patientId, LIPID, 'final'));
  const [issued, ...still] = await invoicesOf(server, id);
  expect(still).toEqual([]);
  expect(issued.id).toBe(invoice.id);
  expect(issued.status).toBe('issued');
  expect(issued.note).toBeUndefined();
  expect(lineItems(issued)).toHaveLength(5);
  // 500 + 23.50 + 9.50 + 350 + 600 = 1483.00; taxes 2 × (1.41 + 0.57) = 3.96
  expect(issued.totalNet).toEqual({ value: 1483, currency: 'INR' });
  expect(issued.totalGross).toEqual({ value: 1486.96, currency: 'INR' });
  expect((await chargeItems(id)).every((i) => i.status === 'billed')).toBe(true);
});

test('a visit with nothing priced gets a draft invoice of 0.00 listing every item', async () => {
  const unpaid = await hospital(server, 'Arogya Rural Clinic, Tumakuru', 'IN2910000555', null);
  const ondansetron = await medicine(server, 'Ondansetron 4 mg tablet', null);
  const id = await visit(unpaid);
  await create(server, dispense(id, patientId, ondansetron, 5, unpaid));
  await conclude(id, unpaid);
  const [invoice] = await invoicesOf(server, id);
  expect(invoice.status).toBe('draft');
  expect(invoice.totalPriceComponent).toBeUndefined();
  expect(invoice.totalNet).toEqual({ value: 0, currency: 'INR' });
  expect(invoice.totalGross).toEqual({ value: 0, currency: 'INR' });
  expect((invoice.note as Json[]).map((n) => n.text)).toEqual([
    expect.stringMatching(/^Unpriced: ChargeItem\/\S+ \(Consultation\)$/),
    expect.stringMatching(/^Unpriced: ChargeItem\/\S+ \(Ondansetron 4 mg tablet\)$/),
  ]);
});

test('a lab report becoming final after the invoice is issued goes on a supplementary invoice #2 of its own', async () => {
  const id = await visit();
  await conclude(id);
  const [first] = await invoicesOf(server, id);
  expect(first.status).toBe('issued');
  const pending = await create(server, report(id, patientId, CBC, 'preliminary'));
  expect(await invoicesOf(server, id)).toHaveLength(1);

  const final = await server.request('PUT', `/DiagnosticReport/${pending.id}`, { body: { ...pending, status: 'final' } });
  expect(final.status).toBe(200);
  const [original, supplementary, ...more] = await invoicesOf(server, id);
  expect(more).toEqual([]);
  expect((original.meta as Json).versionId).toBe((first.meta as Json).versionId);
  expect(keyOf(supplementary)).toBe(`Encounter/${id}#2`);
  expect(supplementary.status).toBe('issued');
  const reportItem = (await chargeItems(id)).find((i) => itemKey(i) === `report:DiagnosticReport/${pending.id}`) as Json;
  expect(lineItems(supplementary)).toEqual([reportItem.id]);
  expect(supplementary.totalGross).toEqual({ value: 350, currency: 'INR' });
  const [prefix, y, n] = billNumberOf(first).split('/');
  expect(billNumberOf(supplementary)).toBe(`${prefix}/${y}/${String(Number(n) + 1).padStart(6, '0')}`);
  expect(supplementary.note).toEqual([{ text: `Supplementary to Invoice/${first.id} (bill ${billNumberOf(first)})` }]);
  // The client finds it by its key.
  const found = await search(server, `Invoice?identifier=${encodeURIComponent(`${SID}/invoice-key|Encounter/${id}#2`)}`);
  expect(found.map((i) => i.id)).toEqual([supplementary.id]);
  const all = await search(server, `Invoice?account:Account.identifier=${encodeURIComponent(`${SID}/encounter-account|${id}`)}`);
  expect(all.map((i) => i.id).sort()).toEqual([first.id, supplementary.id].sort());

  // Amended later: nothing new to bill.
  const amended = await server.request('PUT', `/DiagnosticReport/${pending.id}`, { body: { ...pending, status: 'amended' } });
  expect(amended.status).toBe(200);
  expect(await invoicesOf(server, id)).toHaveLength(2);
});

test('a visit cancelled before billing is not billed; cancelled after billing, its invoice is cancelled and its items entered-in-error', async () => {
  const early = await visit();
  await create(server, dispense(early, patientId, paracetamol, 10, city));
  const r = await server.request('PUT', `/Encounter/${early}`, { body: { ...encounter('cancelled', patientId, city), id: early } });
  expect(r.status).toBe(200);
  expect(await invoicesOf(server, early)).toEqual([]);
  expect(await chargeItems(early)).toEqual([]);
  expect(await search(server, `Account?identifier=${encodeURIComponent(`${SID}/encounter-account|${early}`)}`)).toEqual([]);

  const late = await visit();
  await create(server, dispense(late, patientId, paracetamol, 10, city));
  await conclude(late);
  const [issued] = await invoicesOf(server, late);
  expect(issued.status).toBe('issued');
  const cancel = await server.request('PUT', `/Encounter/${late}`, { body: { ...encounter('entered-in-error', patientId, city), id: late } });
  expect(cancel.status).toBe(200);
  const [cancelled, ...more] = await invoicesOf(server, late);
  expect(more).toEqual([]);
  expect(cancelled.status).toBe('cancelled');
  expect(cancelled.cancelledReason).toBe(`Encounter/${late} is entered-in-error`);
  const items = await chargeItems(late);
  expect(items).toHaveLength(2);
  expect(items.map((i) => i.status)).toEqual(['entered-in-error', 'entered-in-error']);
});

test('20 concurrent PUTs concluding one visit make exactly one invoice, one ChargeItem per dispense and one bill number', async () => {
  const h = await hospital(server, 'Arogya Hospital, Mysuru', 'IN2910000777');
  const id = await visit(h);
  const d1 = await create(server, dispense(id, patientId, paracetamol, 10, h));
  const d2 = await create(server, dispense(id, patientId, amoxicillin, 3, h));
  const puts = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      server.request('PUT', `/Encounter/${id}`, {
        body: {
          ...encounter('finished', patientId, h, {
            period: { start: '2026-12-05T09:00:00+05:30', end: `2026-12-05T10:${String(i).padStart(2, '0')}:00+05:30` },
          }),
          id,
        },
      }),
    ),
  );
  expect(puts.map((p) => p.status)).toEqual(Array(20).fill(200));
  const invoices = await invoicesOf(server, id);
  expect(invoices).toHaveLength(1);
  expect(billNumberOf(invoices[0])).toBe(`IN2910000777/${year}/000001`);
  const keys = (await chargeItems(id)).map(itemKey).sort();
  expect(keys).toEqual([`consult:Encounter/${id}`, `dispense:MedicationDispense/${d1.id}`, `dispense:MedicationDispense/${d2.id}`].sort());
  expect(await search(server, `Account?identifier=${encodeURIComponent(`${SID}/encounter-account|${id}`)}`)).toHaveLength(1);
  // The next visit of that hospital takes the next number: none was used up by the 19 that lost.
  const next = await visit(h);
  await conclude(next, h);
  expect(billNumberOf((await invoicesOf(server, next))[0])).toBe(`IN2910000777/${year}/000002`);
});

test('bill numbers run per hospital: {HFR id}/{yyyy}/{6 digits}, or the Organization id for a hospital without an HFR id', async () => {
  const north = await hospital(server, 'Arogya North, Hubballi', 'IN2910000888');
  const south = await hospital(server, 'Arogya South, Mangaluru', null);
  const numbers: string[] = [];
  for (const h of [north, south, north, north, south]) {
    const id = await visit(h);
    await conclude(id, h);
    numbers.push(billNumberOf((await invoicesOf(server, id))[0]));
  }
  expect(numbers).toEqual([
    `IN2910000888/${year}/000001`,
    `${south.org.id}/${year}/000001`,
    `IN2910000888/${year}/000002`,
    `IN2910000888/${year}/000003`,
    `${south.org.id}/${year}/000002`,
  ]);
});

test("no serviceProvider: the first participant PractitionerRole's organization bills; with none, a warning and no bill", async () => {
  // The hospital's default fee (consult-org-…) prices a doctor without a fee of their own; a manual item is billed too.
  const clinic = await hospital(server, 'Arogya Clinic, Udupi', 'IN2910000999', null);
  await create(server, {
    resourceType: 'ChargeItemDefinition',
    url: `${BASE}/ChargeItemDefinition/consult-org-${clinic.org.id}`,
    status: 'active',
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: 300, currency: 'INR' } }] }],
  });
  const id = await visit(clinic, { serviceProvider: undefined });
  await create(server, {
    resourceType: 'ChargeItem',
    status: 'billable',
    code: { text: 'Wound dressing' },
    subject: { reference: `Patient/${patientId}` },
    context: { reference: `Encounter/${id}` },
    quantity: { value: 1 },
    priceOverride: { value: 150, currency: 'INR' },
  });
  await conclude(id, clinic, { serviceProvider: undefined });
  const [invoice] = await invoicesOf(server, id);
  expect(invoice.issuer).toEqual({ reference: `Organization/${clinic.org.id}` });
  expect(invoice.status).toBe('issued');
  expect(invoice.totalGross).toEqual({ value: 450, currency: 'INR' });
  expect(lineItems(invoice)).toHaveLength(2);

  // A participant that is a Practitioner (not a role): the role is found at the hospital.
  const byPractitioner = await visit(clinic, { participant: [{ individual: { reference: `Practitioner/${clinic.practitioner.id}` } }] });
  await conclude(byPractitioner, clinic, { participant: [{ individual: { reference: `Practitioner/${clinic.practitioner.id}` } }] });
  const [second] = await invoicesOf(server, byPractitioner);
  expect(second.participant).toEqual([{ actor: { reference: `Practitioner/${clinic.practitioner.id}` } }]);
  expect(second.totalGross).toEqual({ value: 300, currency: 'INR' });

  const orphan = await visit(null);
  const put = await conclude(orphan, null, {}, 'return=OperationOutcome');
  expect(JSON.stringify(put.body.issue)).toContain('not billed');
  expect(await invoicesOf(server, orphan)).toEqual([]);
  expect(await chargeItems(orphan)).toEqual([]);
  expect((await search(server, `Flag?encounter=Encounter/${orphan}`)).length).toBe(1);
});

test('a visit re-opened and concluded again bills only what is new', async () => {
  const id = await visit();
  await conclude(id);
  const [first] = await invoicesOf(server, id);
  const reopen = await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('in-progress', patientId, city), id } });
  expect(reopen.status).toBe(200);
  await conclude(id);
  const again = await invoicesOf(server, id);
  expect(again.map((i) => [i.id, (i.meta as Json).versionId])).toEqual([[first.id, (first.meta as Json).versionId]]);
  // Something new while it was open (a final CBC) goes on a supplementary invoice at the next conclusion.
  await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('in-progress', patientId, city), id } });
  await create(server, report(id, patientId, CBC, 'final')); // the visit is not finished: nothing billed yet
  expect(await invoicesOf(server, id)).toHaveLength(1);
  await conclude(id);
  const [, supplementary, ...more] = await invoicesOf(server, id);
  expect(more).toEqual([]);
  expect(keyOf(supplementary)).toBe(`Encounter/${id}#2`);
  expect(supplementary.totalGross).toEqual({ value: 350, currency: 'INR' });
});

test('cancelling a visit whose bill is paid leaves the paid invoice and its items, with a warning', async () => {
  const id = await visit();
  await create(server, dispense(id, patientId, paracetamol, 10, city));
  await conclude(id);
  const [invoice] = await invoicesOf(server, id);
  const paid = await server.request('PUT', `/Invoice/${invoice.id}`, { body: { ...invoice, status: 'balanced' } });
  expect(paid.status).toBe(200);
  const cancel = await server.request('PUT', `/Encounter/${id}`, {
    body: { ...encounter('cancelled', patientId, city), id },
    headers: { prefer: 'return=OperationOutcome' },
  });
  expect(cancel.status).toBe(200);
  expect(JSON.stringify(cancel.body.issue)).toContain(`Invoice/${invoice.id} is already paid (balanced)`);
  const [after] = await invoicesOf(server, id);
  expect(after.status).toBe('balanced');
  expect((await chargeItems(id)).map((i) => i.status)).toEqual(['billed', 'billed']);
});

test('a visit concluded after the fact is billed when it is concluded (date now, §5.1 A4); a dated correction by If-Match PUT sets nothing off', async () => {
  // the visit ended three days ago; the doctor records its conclusion only now
  const ended = new Date(Date.now() - 3 * 86_400_000);
  const period = { start: new Date(ended.getTime() - 20 * 60_000).toISOString(), end: ended.toISOString() };
  const id = await visit(city, { period: { start: period.start } });
  await create(server, dispense(id, patientId, paracetamol, 10, city));
  const before = Date.now();
  await conclude(id, city, { period });
  const after = Date.now();
  const issuedNow = (when: unknown) => Date.parse(String(when)) >= before - 1000 && Date.parse(String(when)) <= after + 1000;
  const [invoice, ...more] = await invoicesOf(server, id);
  expect(more).toEqual([]);
  expect({ date: invoice.date, now: issuedNow(invoice.date) }).toEqual({ date: invoice.date, now: true });
  expect(billNumberOf(invoice)).toMatch(new RegExp(`^IN2910000123/${new Date(before).getUTCFullYear()}/\\d{6}$`));
  const items = await chargeItems(id);
  expect(items.map((i) => issuedNow(i.enteredDate))).toEqual([true, true]);
  // the consultation's occurrence is the visit itself
  expect(items.find((i) => itemKey(i).startsWith('consult:'))?.occurrencePeriod).toEqual(period);

  // a records clerk (here: what `arogya seed-demo` does for its past visits) dates the bill at the visit's end
  const corrected = await server.request('PUT', `/Invoice/${invoice.id}`, {
    body: { ...invoice, date: period.end, note: [{ text: 'dated at the end of the visit' }] },
    headers: { 'if-match': `W/"${(invoice.meta as Json).versionId}"` },
  });
  expect(corrected.status).toBe(200);
  const stale = await server.request('PUT', `/Invoice/${invoice.id}`, {
    body: { ...invoice, date: period.start },
    headers: { 'if-match': `W/"${(invoice.meta as Json).versionId}"` },
  });
  expect(stale.status).toBe(412);
  const [stored, ...none] = await invoicesOf(server, id);
  expect(none).toEqual([]);
  expect([stored.date, stored.status, billNumberOf(stored), stored.totalGross]).toEqual([
    period.end,
    'issued',
    billNumberOf(invoice),
    invoice.totalGross,
  ]);
  expect((await chargeItems(id)).map((i) => i.status)).toEqual(['billed', 'billed']);
});
