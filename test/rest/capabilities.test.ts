/** GET /metadata: a CapabilityStatement generated from what the server routes, indexes and implements. */
import { useServer, type Json } from '../harness';
import { r4Model } from '../../server/fhir/definitions';

const server = useServer();

test('lists every R4 resource type with the interactions that are routed', async () => {
  const res = await server.request('GET', '/metadata');
  expect(res.status).toBe(200);
  const cs = res.body as Json;
  expect(cs.resourceType).toBe('CapabilityStatement');
  expect(cs.fhirVersion).toBe('4.0.1');
  expect(cs.format).toContain('application/fhir+json');
  expect(cs.patchFormat).toEqual(['application/json-patch+json', 'application/fhir+json']);
  const rest = cs.rest[0];
  expect(rest.resource.map((r: Json) => r.type)).toEqual(r4Model().resourceTypes);
  expect(rest.resource.length).toBeGreaterThanOrEqual(145);
  const patient = rest.resource.find((r: Json) => r.type === 'Patient');
  expect(patient.interaction.map((i: Json) => i.code).sort()).toEqual(
    ['create', 'delete', 'history-instance', 'history-type', 'patch', 'read', 'search-type', 'update', 'vread'].sort(),
  );
  expect(patient.conditionalDelete).toBe('multiple');
  const names = patient.searchParam.map((p: Json) => p.name);
  for (const n of [
    '_id',
    '_lastUpdated',
    '_tag',
    '_profile',
    '_security',
    '_source',
    '_text',
    '_content',
    '_list',
    '_has',
    'identifier',
    'name',
    'family',
    'birthdate',
    'gender',
    'organization',
  ]) {
    expect(names).toContain(n);
  }
  const byName = (n: string) => patient.searchParam.find((p: Json) => p.name === n);
  expect(byName('birthdate')).toMatchObject({ type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/individual-birthdate' });
  expect(byName('family').documentation).toContain(':exact');
  expect(byName('identifier').documentation).toContain(':of-type');
  expect(patient.searchInclude).toContain('Patient:organization');
  expect(patient.searchRevInclude).toContain('Observation:subject');
  const observation = rest.resource.find((r: Json) => r.type === 'Observation');
  expect(observation.searchParam.find((p: Json) => p.name === 'code-value-quantity').type).toBe('composite');
  expect(patient.operation).toEqual(
    expect.arrayContaining([
      { name: 'validate', definition: 'https://arogya.dev/fhir/OperationDefinition/Resource-validate' },
      { name: 'export', definition: 'https://arogya.dev/fhir/OperationDefinition/Patient-export' },
    ]),
  );
  // $export is defined on Patient (type level) and Group (instance level) only
  expect(rest.resource.find((r: Json) => r.type === 'Observation').operation.map((o: Json) => o.name)).not.toContain('export');
  expect(rest.operation.map((o: Json) => o.name)).toEqual(expect.arrayContaining(['export', 'import']));
  expect(rest.interaction).toEqual(expect.arrayContaining([{ code: 'history-system' }, { code: 'search-system' }]));
  // batch and transaction are routed (POST [base], rest/batch-transaction.ts)
  expect(rest.interaction.map((i: Json) => i.code)).toEqual(expect.arrayContaining(['transaction', 'batch']));
});

test('every claimed interaction answers (not 404/405)', async () => {
  const created = await server.request('POST', '/Basic', { body: { resourceType: 'Basic', code: { text: 'capability probe' } } });
  const id = created.body.id;
  const probes: [string, string, unknown?][] = [
    ['GET', `/Basic/${id}`],
    ['GET', `/Basic/${id}/_history/1`],
    ['PUT', `/Basic/${id}`, { ...created.body, code: { text: 'changed' } }],
    ['GET', `/Basic/${id}/_history`],
    ['GET', '/Basic/_history'],
    ['GET', `/Basic?_id=${id}`],
    ['GET', '/_history'],
    ['POST', '/', { resourceType: 'Bundle', type: 'batch', entry: [] }],
    ['POST', '/', { resourceType: 'Bundle', type: 'transaction', entry: [] }],
  ];
  for (const [m, p, body] of probes) {
    const res = await server.request(m, p, body ? { body } : undefined);
    expect({ m, p, status: res.status }).toEqual({ m, p, status: 200 });
  }
});

test('health endpoints', async () => {
  const root = server.base.replace(/\/fhir$/, '');
  expect((await fetch(`${root}/healthz`)).status).toBe(200);
  const ready = await fetch(`${root}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready' });
});
