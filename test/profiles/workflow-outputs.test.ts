/**
 * What the HMS workflows write conforms to the HMS profiles: a visit with a dispensed medicine and a final lab
 * report is concluded (billing runs in the conclusion's transaction), then the Invoice, its ChargeItems and the
 * dispense are validated against their HMS profiles with `$validate?profile=` over HTTP.
 */
import { type Json, startServer, type TestServer } from '../harness';
import { CBC, create, dispense, encounter, hospital, invoicesOf, labPrice, medicine, patient, report, search } from '../workflows/billing-data';
import { SD } from './hms-data';

let server: TestServer;
afterAll(async () => server?.close());

async function errorsAgainst(resource: Json, profile: string): Promise<string[]> {
  const res = await server.request('POST', `/${resource.resourceType}/$validate?profile=${encodeURIComponent(`${SD}/${profile}`)}`, {
    body: resource,
  });
  expect(res.status).toBe(200);
  return res.body.issue.filter((i: Json) => i.severity === 'error').map((i: Json) => `${i.expression?.[0]}: ${i.diagnostics}`);
}

test('the bill of a concluded visit, its charges and the dispense conform to their HMS profiles', async () => {
  server = await startServer({ workflows: true });
  const city = await hospital(server, 'Arogya City Hospital, Bengaluru', 'IN2910000123');
  const patientId = (await patient(server)).id as string;
  const paracetamol = await medicine(server, 'Paracetamol 500 mg tablet', 2.35, 3.0);
  await labPrice(server, CBC, 350);
  const enc = await create(server, encounter('in-progress', patientId, city));
  await create(server, dispense(enc.id, patientId, paracetamol, 10, city));
  await create(server, report(enc.id, patientId, CBC, 'final'));
  const done = await server.request('PUT', `/Encounter/${enc.id}`, {
    body: {
      ...encounter('finished', patientId, city, { period: { start: '2026-12-05T09:00:00+05:30', end: '2026-12-05T09:25:00+05:30' } }),
      id: enc.id,
    },
  });
  expect(done.status).toBe(200);

  const [invoice] = await invoicesOf(server, enc.id);
  expect(invoice.status).toBe('issued');
  expect(await errorsAgainst(invoice, 'hms-invoice')).toEqual([]);
  const items = await search(server, `ChargeItem?context=Encounter/${enc.id}`);
  expect(items.length).toBe(3);
  for (const item of items) expect(await errorsAgainst(item, 'hms-chargeitem')).toEqual([]);
});
