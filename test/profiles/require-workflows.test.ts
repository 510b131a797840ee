/**
 * AROGYA_REQUIRE_PROFILES=hms with the HMS workflows on: the server's own writes (the dispense prepared at the
 * visit's conclusion, the ChargeItems, the Invoice) claim their HMS profiles and conform to them, so a visit of a
 * network whose every resource claims its profile concludes and is billed.
 */
import { type Json, startServer, type TestServer } from '../harness';
import * as hms from './hms-data';

let server: TestServer;
afterAll(async () => server?.close());

const search = async (q: string): Promise<Json[]> => {
  const res = await server.request('GET', q);
  expect(res.status).toBe(200);
  return (res.body.entry ?? []).map((e: Json) => e.resource);
};

test('a visit concludes into a dispense, charges and an invoice, each claiming its HMS profile', async () => {
  server = await startServer({ requireProfiles: 'hms', workflows: true });
  const org = (await hms.create(server, hms.hospital())).id;
  const pharmacy = (await hms.create(server, hms.dispensary(org))).id;
  const practitioner = (await hms.create(server, hms.doctor())).id;
  const patient = (await hms.create(server, hms.patient())).id;
  const medication = (await hms.create(server, hms.medication())).id;
  await hms.create(server, hms.stockItem({ org, pharmacy, medication }));
  await hms.create(server, hms.price(medication));
  await hms.create(server, {
    ...hms.price(medication),
    url: `${hms.BASE}/ChargeItemDefinition/consult-org-${org}`,
    instance: undefined,
    code: { coding: [{ system: `${hms.ABDM}/CodeSystem/ndhm-billing-codes`, code: '00', display: 'Consultation' }] },
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: 500, currency: 'INR' } }] }],
  });
  const enc = await hms.create(server, hms.encounter({ org, patient, practitioner }));
  await hms.create(server, hms.medicationRequest({ org, patient, practitioner, encounter: enc.id }));

  const done = await server.request('PUT', `/Encounter/${enc.id}`, {
    body: { ...enc, status: 'finished', period: { start: '2026-12-05T09:30:00+05:30', end: '2026-12-05T09:50:00+05:30' } },
  });
  expect(done.status).toBe(200);

  const [dispense] = await search(`/MedicationDispense?context=Encounter/${enc.id}`);
  expect(dispense.status).toBe('preparation');
  expect(dispense.meta.profile).toEqual([`${hms.SD}/hms-medicationdispense`]);
  const items = await search(`/ChargeItem?context=Encounter/${enc.id}`);
  expect(items.length).toBe(2);
  for (const item of items) expect(item.meta.profile).toEqual([`${hms.SD}/hms-chargeitem`]);
  const [invoice] = await search(`/Invoice?subject=Patient/${patient}`);
  expect(invoice.status).toBe('issued');
  expect(invoice.meta.profile).toEqual([`${hms.SD}/hms-invoice`]);
  // The stock item the workflow updated (reservation) still claims and conforms to its profile.
  const [stock] = await search(`/Basic?code=${encodeURIComponent(`${hms.BASE}/CodeSystem/hms-basic-type|stock-item`)}`);
  expect(stock.meta.profile).toEqual([`${hms.SD}/hms-stock-item`]);
  for (const r of [dispense, ...items, invoice, stock]) {
    const v = await server.request('GET', `/${r.resourceType}/${r.id}/$validate`);
    expect(v.body.issue.filter((i: Json) => i.severity === 'error')).toEqual([]);
  }
});
