/**
 * The server's own HMS search parameters (server/fhir/search/hms.ts): ChargeItemDefinition by `instance` and by
 * `code` — a price list looked up by what it prices — searchable and listed in the CapabilityStatement.
 */
import { useServer, type Json } from '../harness';

const server = useServer();
const LOINC = 'http://loinc.org';

test('ChargeItemDefinition?instance= and ?code= find the price of a medicine and of a lab test', async () => {
  const med = await server.request('POST', '/Medication', { body: { resourceType: 'Medication', code: { text: 'Metformin 500 mg tablet' } } });
  const other = await server.request('POST', '/Medication', { body: { resourceType: 'Medication', code: { text: 'Amlodipine 5 mg tablet' } } });
  const price = (extra: Json) => ({
    resourceType: 'ChargeItemDefinition',
    url: `https://arogya.dev/fhir/ChargeItemDefinition/test-${Math.random().toString(36).slice(2)}`,
    status: 'active',
    ...extra,
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: 3.2, currency: 'INR' } }] }],
  });
  const medPrice = await server.request('POST', '/ChargeItemDefinition', { body: price({ instance: [{ reference: `Medication/${med.body.id}` }] }) });
  const labPrice = await server.request('POST', '/ChargeItemDefinition', {
    body: price({ code: { coding: [{ system: LOINC, code: '4548-4', display: 'Hemoglobin A1c' }] } }),
  });
  expect([medPrice.status, labPrice.status]).toEqual([201, 201]);
  const ids = async (q: string) =>
    (((await server.request('GET', `/ChargeItemDefinition?${q}`)).body.entry as Json[] | undefined) ?? []).map((e) => (e.resource as Json).id);
  expect(await ids(`instance=Medication/${med.body.id}`)).toEqual([medPrice.body.id]);
  expect(await ids(`instance=Medication/${other.body.id}`)).toEqual([]);
  expect(await ids(`code=${LOINC}|4548-4&status=active`)).toEqual([labPrice.body.id]);
  expect(await ids(`code=${LOINC}|2345-7`)).toEqual([]);

  const cs = await server.request('GET', '/metadata');
  const cid = ((cs.body.rest as Json[])[0].resource as Json[]).find((r) => r.type === 'ChargeItemDefinition') as Json;
  const names = (cid.searchParam as Json[]).map((p) => p.name);
  expect(names).toEqual(expect.arrayContaining(['instance', 'code']));
});
