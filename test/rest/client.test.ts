/**
 * A real FHIR client (fhir-kit-client) against the server: the interactions an EHR integration uses, through a
 * library that knows FHIR, not our test helpers.
 */
import Client from 'fhir-kit-client';
import { useServer } from '../harness';

let client: Client;
const server = useServer();
beforeAll(async () => {
  // with SMART on, the client sends the test's admin token, as a backend service would
  const token = await server.token();
  client = new Client({ baseUrl: server.base, ...(token ? { bearerToken: token } : {}) });
});

test('capability statement, create, read, update, vread, history, search by identifier, delete', async () => {
  const cs = (await client.capabilityStatement()) as unknown as { fhirVersion: string };
  expect(cs.fhirVersion).toBe('4.0.1');

  const practitioner = (await client.create({
    resourceType: 'Practitioner',
    body: {
      resourceType: 'Practitioner',
      identifier: [{ system: 'https://hpr.abdm.gov.in', value: '71-4417-8256-1234' }],
      name: [{ text: 'Dr. Anil Menon', family: 'Menon', given: ['Anil'] }],
    },
  })) as unknown as { id: string; meta: { versionId: string } };
  expect(practitioner.meta.versionId).toBe('1');

  const read = (await client.read({ resourceType: 'Practitioner', id: practitioner.id })) as unknown as { name: { text: string }[] };
  expect(read.name[0].text).toBe('Dr. Anil Menon');

  const updated = (await client.update({
    resourceType: 'Practitioner',
    id: practitioner.id,
    body: { resourceType: 'Practitioner', ...read, gender: 'male' },
  })) as unknown as { meta: { versionId: string } };
  expect(updated.meta.versionId).toBe('2');

  const v1 = (await client.vread({ resourceType: 'Practitioner', id: practitioner.id, version: '1' })) as unknown as { gender?: string };
  expect(v1.gender).toBeUndefined();

  const history = (await client.history({ resourceType: 'Practitioner', id: practitioner.id })) as unknown as { total: number };
  expect(history.total).toBe(2);

  const found = (await client.search({
    resourceType: 'Practitioner',
    searchParams: { identifier: 'https://hpr.abdm.gov.in|71-4417-8256-1234' },
  })) as unknown as {
    total: number;
    entry: { resource: { id: string } }[];
  };
  expect(found.total).toBe(1);
  expect(found.entry[0].resource.id).toBe(practitioner.id);

  await client.delete({ resourceType: 'Practitioner', id: practitioner.id });
  await expect(client.read({ resourceType: 'Practitioner', id: practitioner.id })).rejects.toMatchObject({ response: { status: 410 } });
});
