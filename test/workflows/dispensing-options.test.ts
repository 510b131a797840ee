/**
 * Dispensing settings and races (HMS-DOMAIN §0 "dispensing defaults", §5.2, §5.3): AROGYA_DISPENSE_ON=request
 * dispenses a prescription as soon as it is active, AROGYA_ALLOW_PARTIAL prepares what there is (`#part1`) and
 * holds the rest (`#part2`); with the defaults, a prescription activated after its visit ended (or without a visit)
 * is dispensed at once; concurrent conclusions competing for the same stock never over-reserve it.
 */
import { startServer, type Json, type TestServer } from '../harness';
import { create, hospital, medication, read, search, SID, SNOMED, stockItem, stockOf, update, type Hospital } from './hms-dispensary';

const PRODUCT = { code: '372687004', text: 'Amoxicillin 250 mg/5 mL oral suspension' };

function line(h: Hospital, encounter: Json | undefined, qty: number, extra: Json = {}): Json {
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: SNOMED, code: PRODUCT.code, display: PRODUCT.text }], text: PRODUCT.text },
    subject: { reference: `Patient/${h.patient.id}` },
    ...(encounter ? { encounter: { reference: `Encounter/${encounter.id}` } } : {}),
    requester: { reference: `PractitionerRole/${h.role.id}` },
    authoredOn: '2026-12-05T10:00:00+05:30',
    dosageInstruction: [{ text: '5 mL three times a day' }],
    dispenseRequest: { quantity: { value: qty, unit: 'bottle' } },
    ...extra,
  };
}

async function visit(server: TestServer, h: Hospital): Promise<Json> {
  return create(server, {
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: `Patient/${h.patient.id}` },
    serviceProvider: { reference: `Organization/${h.org.id}` },
    period: { start: '2026-12-05T09:45:00+05:30' },
  });
}

function keyOf(d: Json): string {
  return d.identifier.find((i: Json) => i.system === `${SID}/dispense-key`).value;
}

async function dispensesOf(server: TestServer, request: Json): Promise<Json[]> {
  const all = await search(server, `MedicationDispense?prescription=MedicationRequest/${request.id}`);
  return all.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
}

describe('AROGYA_DISPENSE_ON=request, AROGYA_ALLOW_PARTIAL=on', () => {
  let server: TestServer;
  let h: Hospital;
  beforeAll(async () => {
    server = await startServer({ workflows: true, dispenseOn: 'request', allowPartial: true });
    h = await hospital(server);
  });
  afterAll(async () => server?.close());

  test('an active prescription is dispensed at once; the conclusion adds nothing', async () => {
    const batch = await medication(server, PRODUCT, { lot: 'AMX-S1', expiry: '2027-12-31' });
    const item = await stockItem(server, h, batch, 20);
    const e = await visit(server, h);
    const mr = await create(server, line(h, e, 3));
    const [d] = await dispensesOf(server, mr);
    expect(d).toMatchObject({ status: 'preparation', context: { reference: `Encounter/${e.id}` } });
    expect(keyOf(d)).toBe(`MedicationRequest/${mr.id}`);
    expect(await stockOf(server, item)).toEqual({ onHand: 20, reserved: 3 });
    await update(server, { ...e, status: 'finished' });
    expect(await dispensesOf(server, mr)).toHaveLength(1);
    expect(await stockOf(server, item)).toEqual({ onHand: 20, reserved: 3 });
  });

  test('short stock: part 1 prepared with what there is, part 2 on hold with a SupplyRequest; a delivery resumes part 2', async () => {
    const h2 = await hospital(server);
    const batch = await medication(server, PRODUCT, { lot: 'AMX-S2', expiry: '2027-10-31' });
    const item = await stockItem(server, h2, batch, 6, { reorderQuantity: 2 });
    const e = await visit(server, h2);
    const mr = await create(server, line(h2, e, 10));
    const [p1, p2] = await dispensesOf(server, mr);
    expect(keyOf(p1)).toBe(`MedicationRequest/${mr.id}#part1`);
    expect(p1).toMatchObject({ status: 'preparation', quantity: { value: 6 } });
    expect(keyOf(p2)).toBe(`MedicationRequest/${mr.id}#part2`);
    expect(p2).toMatchObject({ status: 'on-hold', quantity: { value: 4 } });
    expect(await stockOf(server, item)).toEqual({ onHand: 6, reserved: 6 });
    const [sr] = await search(server, `SupplyRequest?identifier=${encodeURIComponent(`${SID}/supply-key|MedicationDispense/${p2.id}`)}`);
    expect(sr.quantity.value).toBe(4); // shortfall 4 > reorder quantity 2

    await create(server, {
      resourceType: 'SupplyDelivery',
      status: 'completed',
      suppliedItem: { quantity: { value: 4 }, itemReference: { reference: `Medication/${batch.id}` } },
      destination: { reference: `Location/${h2.pharmacy.id}` },
    });
    const after = await dispensesOf(server, mr);
    expect(after.map((d) => d.status)).toEqual(['preparation', 'preparation']);
    expect(await stockOf(server, item)).toEqual({ onHand: 10, reserved: 10 });
  });
});

describe('defaults (conclusion, no partial fills)', () => {
  let server: TestServer;
  let h: Hospital;
  let batch: Json;
  let item: Json;
  beforeAll(async () => {
    server = await startServer({ workflows: true });
    h = await hospital(server);
    batch = await medication(server, PRODUCT, { lot: 'AMX-D1', expiry: '2028-02-29' });
    item = await stockItem(server, h, batch, 10);
  });
  afterAll(async () => server?.close());

  test('a prescription for an ongoing visit waits; one added after the visit ended is dispensed at once', async () => {
    const e = await visit(server, h);
    const during = await create(server, line(h, e, 2));
    expect(await dispensesOf(server, during)).toEqual([]);
    await update(server, { ...e, status: 'finished' });
    expect((await dispensesOf(server, during)).map((d) => d.status)).toEqual(['preparation']);
    const late = await create(server, line(h, e, 1, { status: 'draft' }));
    expect(await dispensesOf(server, late)).toEqual([]);
    await update(server, { ...late, status: 'active' });
    expect((await dispensesOf(server, late)).map((d) => d.status)).toEqual(['preparation']);
    expect(await stockOf(server, item)).toEqual({ onHand: 10, reserved: 3 });
  });

  test('a prescription without a visit goes to its dispenseRequest.performer', async () => {
    const mr = await create(
      server,
      line(h, undefined, 1, { dispenseRequest: { quantity: { value: 1 }, performer: { reference: `Organization/${h.org.id}` } } }),
    );
    const [d] = await dispensesOf(server, mr);
    expect(d).toMatchObject({ status: 'preparation', location: { reference: `Location/${h.pharmacy.id}` } });
    expect(d.context).toBeUndefined();
    expect(await stockOf(server, item)).toEqual({ onHand: 10, reserved: 4 });
  });

  test('short stock holds the whole line (no partial fill)', async () => {
    const e = await visit(server, h);
    const mr = await create(server, line(h, e, 7));
    await update(server, { ...e, status: 'finished' });
    const all = await dispensesOf(server, mr);
    expect(all.map((d) => [keyOf(d), d.status])).toEqual([[`MedicationRequest/${mr.id}`, 'on-hold']]);
    expect(await stockOf(server, item)).toEqual({ onHand: 10, reserved: 4 });
  });

  test('concurrent conclusions competing for the same stock: it is never over-reserved', async () => {
    const h3 = await hospital(server);
    const b = await medication(server, PRODUCT, { lot: 'AMX-C1', expiry: '2028-04-30' });
    const si = await stockItem(server, h3, b, 20);
    const visits: { e: Json; mr: Json }[] = [];
    for (let i = 0; i < 6; i++) {
      const e = await visit(server, h3);
      visits.push({ e, mr: await create(server, line(h3, e, 6)) });
    }
    // 6 visits × 6 = 36 asked of 20: three fit, three wait.
    const results = await Promise.all(
      visits.map(({ e }) =>
        server.request('PUT', `/Encounter/${e.id}`, { body: { ...e, status: 'finished' }, headers: { 'if-match': `W/"${e.meta.versionId}"` } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
    const statuses: string[] = [];
    for (const { mr } of visits) statuses.push(...(await dispensesOf(server, mr)).map((d) => d.status));
    expect(statuses.sort()).toEqual(['on-hold', 'on-hold', 'on-hold', 'preparation', 'preparation', 'preparation']);
    expect(await stockOf(server, si)).toEqual({ onHand: 20, reserved: 18 });
  });

  test('20 concurrent PUTs concluding one visit make one dispense and one reservation', async () => {
    const h4 = await hospital(server);
    const b = await medication(server, PRODUCT, { lot: 'AMX-C2', expiry: '2028-05-31' });
    const si = await stockItem(server, h4, b, 50);
    const e = await visit(server, h4);
    const mr = await create(server, line(h4, e, 5));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => server.request('PUT', `/Encounter/${e.id}`, { body: { ...e, status: 'finished' } })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await dispensesOf(server, mr)).toHaveLength(1);
    expect(await stockOf(server, si)).toEqual({ onHand: 50, reserved: 5 });
    expect((await read(server, `Encounter/${e.id}`)).status).toBe('finished');
  });
});
