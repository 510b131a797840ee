/**
 * $meta, $meta-add, $meta-delete (https://hl7.org/fhir/R4/resource-operations.html#meta) over HTTP: the Meta of
 * an instance and of a historical version, the profiles/tags/security labels in use at type and system level,
 * adding and deleting as sets (a change is a new version, no change is none), and bad requests.
 */
import { useServer, type Json } from '../harness';

const server = useServer();
const TAGS = 'http://example.org/codes/tags';
const ABDM_PROFILE = 'https://nrces.in/ndhm/fhir/r4/StructureDefinition/Patient';
let patient: string;

function meta(res: { status: number; body: Json }): Json {
  expect(res.status).toBe(200);
  expect(res.body.resourceType).toBe('Parameters');
  expect(res.body.parameter.map((p: Json) => p.name)).toEqual(['return']);
  return res.body.parameter[0].valueMeta;
}

function parameters(m: Json): Json {
  return { resourceType: 'Parameters', parameter: [{ name: 'meta', valueMeta: m }] };
}

beforeAll(async () => {
  const created = await server.request('POST', '/Patient', {
    body: { resourceType: 'Patient', meta: { tag: [{ system: TAGS, code: 'vip', display: 'VIP' }] }, gender: 'female' },
  });
  patient = created.body.id;
  await server.request('POST', '/Observation', {
    body: {
      resourceType: 'Observation',
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
      status: 'final',
      code: { text: 'pulse' },
    },
  });
});

test("$meta on an instance is the current version's meta, by GET and POST", async () => {
  const m = meta(await server.request('GET', `/Patient/${patient}/$meta`));
  expect(m).toMatchObject({ versionId: '1', tag: [{ system: TAGS, code: 'vip', display: 'VIP' }] });
  expect(m.lastUpdated).toEqual(expect.any(String));
  expect(meta(await server.request('POST', `/Patient/${patient}/$meta`))).toEqual(m);
  expect(meta(await server.request('POST', `/Patient/${patient}/$meta`, { body: { resourceType: 'Parameters' } }))).toEqual(m);
});

test('$meta-add adds profiles, tags and security labels as sets and makes a new version; adding again makes none', async () => {
  const add = parameters({
    profile: [ABDM_PROFILE],
    tag: [
      { system: TAGS, code: 'vip', display: 'another display: same tag' },
      { system: TAGS, code: 'record-lost', display: 'Patient File Lost' },
    ],
    security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }],
  });
  const res = await server.request('POST', `/Patient/${patient}/$meta-add`, { body: add });
  const m = meta(res);
  expect(res.headers.get('etag')).toBe('W/"2"');
  expect(m.versionId).toBe('2');
  expect(m.profile).toEqual([ABDM_PROFILE]);
  expect(m.tag).toEqual([
    { system: TAGS, code: 'vip', display: 'VIP' },
    { system: TAGS, code: 'record-lost', display: 'Patient File Lost' },
  ]);
  expect(m.security).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }]);
  // the resource itself carries it, and search sees it
  expect((await server.request('GET', `/Patient/${patient}`)).body.meta.tag).toHaveLength(2);
  expect((await server.request('GET', `/Patient?_tag=${TAGS}|record-lost`)).body.total).toBe(1);

  const again = meta(await server.request('POST', `/Patient/${patient}/$meta-add`, { body: add }));
  expect(again.versionId).toBe('2');
});

test("$meta on a historical version answers that version's meta", async () => {
  const v1 = meta(await server.request('GET', `/Patient/${patient}/_history/1/$meta`));
  expect(v1.versionId).toBe('1');
  expect(v1.tag).toEqual([{ system: TAGS, code: 'vip', display: 'VIP' }]);
  expect(v1.profile).toBeUndefined();
});

test('$meta at type and system level lists what is in use, without versionId or lastUpdated', async () => {
  const type = meta(await server.request('GET', '/Patient/$meta'));
  expect(type).toEqual({
    profile: [ABDM_PROFILE],
    security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }],
    tag: [
      { system: TAGS, code: 'record-lost' },
      { system: TAGS, code: 'vip' },
    ],
  });
  const system = meta(await server.request('GET', '/$meta'));
  expect(system.security).toEqual(
    expect.arrayContaining([
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' },
      { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' },
    ]),
  );
  expect(system.security).toHaveLength(2);
  expect(system.versionId).toBeUndefined();
  expect(meta(await server.request('GET', '/Observation/$meta'))).toEqual({
    security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
  });
  expect(meta(await server.request('GET', '/Encounter/$meta'))).toEqual({});
});

test('$meta-delete removes by URL / system+code (display ignored); deleting what is absent is no error and no version', async () => {
  const res = await server.request('POST', `/Patient/${patient}/$meta-delete`, {
    body: parameters({
      profile: [ABDM_PROFILE],
      tag: [{ system: TAGS, code: 'vip', display: 'whatever' }],
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }],
    }),
  });
  const m = meta(res);
  expect(m.versionId).toBe('3');
  expect(m.profile).toBeUndefined();
  expect(m.security).toBeUndefined();
  expect(m.tag).toEqual([{ system: TAGS, code: 'record-lost', display: 'Patient File Lost' }]);
  const absent = meta(
    await server.request('POST', `/Patient/${patient}/$meta-delete`, { body: parameters({ tag: [{ system: TAGS, code: 'never-there' }] }) }),
  );
  expect(absent.versionId).toBe('3');
  expect(meta(await server.request('GET', '/Patient/$meta')).tag).toEqual([{ system: TAGS, code: 'record-lost' }]);
});

test('bad requests: 400/404/405/410 with an OperationOutcome', async () => {
  const cases: [string, string, unknown, number][] = [
    ['POST', `/Patient/${patient}/$meta-add`, { resourceType: 'Parameters' }, 400],
    ['POST', `/Patient/${patient}/$meta-add`, { resourceType: 'Patient' }, 400],
    ['POST', `/Patient/${patient}/$meta-add`, { resourceType: 'Parameters', parameter: [{ name: 'meta', valueString: 'x' }] }, 400],
    [
      'POST',
      `/Patient/${patient}/$meta-add`,
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'meta', valueMeta: { tag: [] } },
          { name: 'mode', valueCode: 'x' },
        ],
      },
      400,
    ],
    ['POST', `/Patient/${patient}/$meta-add`, parameters({ versionId: '9' }), 400],
    ['POST', `/Patient/${patient}/$meta-add`, parameters({ tag: { code: 'not-an-array' } }), 400],
    ['POST', `/Patient/${patient}/_history/1/$meta-add`, parameters({ tag: [{ code: 'x' }] }), 400],
    ['GET', `/Patient/${patient}/$meta-add`, undefined, 405],
    ['POST', '/Patient/$meta-add', parameters({ tag: [{ code: 'x' }] }), 404],
    ['POST', '/Patient/no-such-patient/$meta-add', parameters({ tag: [{ code: 'x' }] }), 404],
    ['GET', '/Patient/no-such-patient/$meta', undefined, 404],
    ['GET', `/Patient/${patient}/_history/99/$meta`, undefined, 404],
    ['POST', `/Patient/${patient}/$meta`, parameters({ tag: [] }), 400],
  ];
  for (const [method, path, body, status] of cases) {
    const res = await server.request(method, path, { body });
    expect([method, path, res.status, res.body?.resourceType]).toEqual([method, path, status, 'OperationOutcome']);
  }
  await server.request('DELETE', `/Patient/${patient}`);
  expect((await server.request('GET', `/Patient/${patient}/$meta`)).status).toBe(410);
  expect((await server.request('POST', `/Patient/${patient}/$meta-add`, { body: parameters({ tag: [{ code: 'x' }] }) })).status).toBe(410);
});

test('the CapabilityStatement lists the meta operations', async () => {
  const rest = (await server.request('GET', '/metadata')).body.rest[0];
  expect(rest.operation).toEqual(expect.arrayContaining([{ name: 'meta', definition: 'https://arogya.dev/fhir/OperationDefinition/Resource-meta' }]));
  const ops = rest.resource.find((r: Json) => r.type === 'Encounter').operation.map((o: Json) => o.name);
  expect(ops).toEqual(expect.arrayContaining(['meta', 'meta-add', 'meta-delete']));
});
