/**
 * Terminology over HTTP: ValueSet/$expand, ValueSet/$validate-code and CodeSystem/$lookup over the R4 core
 * definitions, the HMS/ABDM ones in profiles/ and stored resources; `:in`/`:not-in` with the same expansions;
 * the operations in the CapabilityStatement.
 */
import { type Json, useServer } from '../harness';

const ABDM = 'https://nrces.in/ndhm/fhir/r4';
const server = useServer({
  setup: async (s) => {
    const put = async (r: Json) => {
      const res = await s.request('PUT', `/${r.resourceType}/${r.id}`, { body: r });
      if (res.status >= 300) throw new Error(res.text);
    };
    await put({
      resourceType: 'CodeSystem',
      id: 'triage',
      url: 'http://example.org/fhir/CodeSystem/triage',
      status: 'active',
      content: 'complete',
      concept: [
        {
          code: 'urgent',
          display: 'Urgent',
          concept: [
            { code: 'immediate', display: 'Immediate' },
            { code: 'very-urgent', display: 'Very urgent' },
          ],
        },
        { code: 'routine', display: 'Routine' },
      ],
    });
    await put({
      resourceType: 'ValueSet',
      id: 'urgent-triage',
      url: 'http://example.org/fhir/ValueSet/urgent-triage',
      status: 'active',
      compose: {
        include: [{ system: 'http://example.org/fhir/CodeSystem/triage', filter: [{ property: 'concept', op: 'is-a', value: 'urgent' }] }],
        exclude: [{ system: 'http://example.org/fhir/CodeSystem/triage', concept: [{ code: 'very-urgent' }] }],
      },
    });
    for (const [id, code] of [
      ['t1', 'immediate'],
      ['t2', 'very-urgent'],
      ['t3', 'routine'],
    ]) {
      await put({
        resourceType: 'Observation',
        id,
        status: 'final',
        code: { coding: [{ system: 'http://example.org/fhir/CodeSystem/triage', code }] },
      });
    }
    await put({
      resourceType: 'Location',
      id: 'pharmacy',
      status: 'active',
      name: 'OPD Pharmacy',
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'PHARM' }] }],
    });
    await put({
      resourceType: 'Location',
      id: 'ward',
      status: 'active',
      name: 'Ward',
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'HU' }] }],
    });
  },
});

const param = (body: Json, name: string): unknown =>
  body.parameter.find((p: Json) => p.name === name)?.[Object.keys(body.parameter.find((p: Json) => p.name === name)).find((k) => k !== 'name')!];

describe('ValueSet/$expand', () => {
  test('an R4 core value set by url', async () => {
    const res = await server.request('GET', '/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender');
    expect(res.status).toBe(200);
    expect(res.body.expansion.total).toBe(4);
    expect(res.body.expansion.contains.map((c: Json) => c.code)).toEqual(['male', 'female', 'other', 'unknown']);
  });

  test('an ABDM value set from profiles/, by instance id, with filter, count and offset', async () => {
    const all = await server.request('GET', '/ValueSet/ndhm-chargeitem-types/$expand');
    expect(all.status).toBe(200);
    expect(all.body.url).toBe(`${ABDM}/ValueSet/ndhm-chargeitem-types`);
    expect(all.body.expansion.total).toBe(10);
    const page = await server.request('GET', `/ValueSet/$expand?url=${ABDM}/ValueSet/ndhm-chargeitem-types&count=3&offset=2`);
    expect(page.body.expansion.contains.map((c: Json) => c.code)).toEqual(['02', '03', '04']);
    expect(page.body.expansion.offset).toBe(2);
    const filtered = await server.request('GET', `/ValueSet/$expand?url=${ABDM}/ValueSet/ndhm-chargeitem-types&filter=charges`);
    expect(filtered.body.expansion.contains.map((c: Json) => c.display)).toEqual(['Nursing Charges', 'Handling Charges', 'Delivery Charges']);
    expect(filtered.body.expansion.total).toBe(3);
  });

  test('a stored value set with an is-a filter and an exclude, by POST Parameters', async () => {
    const res = await server.request('POST', '/ValueSet/$expand', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'url', valueUri: 'http://example.org/fhir/ValueSet/urgent-triage' }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.expansion.contains.map((c: Json) => c.code)).toEqual(['urgent', 'immediate']);
  });

  test('a whole code system the server does not hold cannot be expanded; an unknown value set is a 404', async () => {
    const snomed = await server.request('POST', '/ValueSet/$expand', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          {
            name: 'valueSet',
            resource: { resourceType: 'ValueSet', status: 'active', compose: { include: [{ system: 'http://snomed.info/sct' }] } },
          },
        ],
      },
    });
    expect(snomed.status).toBe(400);
    expect(snomed.body.issue[0].diagnostics).toMatch(/http:\/\/snomed\.info\/sct/);
    const missing = await server.request('GET', '/ValueSet/$expand?url=http://example.org/nope');
    expect(missing.status).toBe(404);
    const bad = await server.request('GET', '/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&count=-1');
    expect(bad.status).toBe(400);
  });
});

describe('ValueSet/$validate-code', () => {
  test('members, non-members, displays', async () => {
    const ok = await server.request(
      'GET',
      `/ValueSet/$validate-code?url=${ABDM}/ValueSet/ndhm-invoice-types&system=${ABDM}/CodeSystem/ndhm-billing-codes&code=03`,
    );
    expect(ok.status).toBe(200);
    expect(param(ok.body, 'result')).toBe(true);
    expect(param(ok.body, 'display')).toBe('OPD');
    const no = await server.request(
      'GET',
      `/ValueSet/$validate-code?url=${ABDM}/ValueSet/ndhm-invoice-types&system=${ABDM}/CodeSystem/ndhm-billing-codes&code=05`,
    );
    expect(param(no.body, 'result')).toBe(false);
    expect(param(no.body, 'message')).toMatch(/not in the value set/);
    const cc = await server.request('POST', '/ValueSet/administrative-gender/$validate-code', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          {
            name: 'codeableConcept',
            valueCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/administrative-gender', code: 'female', display: 'Woman' }] },
          },
        ],
      },
    });
    expect(param(cc.body, 'result')).toBe(true);
    expect(param(cc.body, 'message')).toMatch(/display 'Woman' is not the code's display 'Female'/);
  });
});

describe('CodeSystem/$lookup', () => {
  test('core, profiles/ and stored code systems', async () => {
    const core = await server.request('GET', '/CodeSystem/$lookup?system=http://terminology.hl7.org/CodeSystem/v3-RoleCode&code=PHARM');
    expect(core.status).toBe(200);
    expect(param(core.body, 'display')).toBe('Pharmacy');
    const abdm = await server.request('GET', `/CodeSystem/$lookup?system=${ABDM}/CodeSystem/ndhm-identifier-type-code&code=HIN`);
    expect(param(abdm.body, 'display')).toBe('Health ID issued by NDHM');
    const stored = await server.request('GET', '/CodeSystem/triage/$lookup?code=immediate');
    expect(param(stored.body, 'display')).toBe('Immediate');
    expect(stored.body.parameter.find((p: Json) => p.name === 'property').part[1].valueCode).toBe('urgent');
    const unknown = await server.request('GET', '/CodeSystem/$lookup?system=http://terminology.hl7.org/CodeSystem/v3-RoleCode&code=NOPE');
    expect(unknown.status).toBe(404);
  });
});

describe(':in and :not-in use the same expansions', () => {
  const ids = async (q: string): Promise<string[]> => {
    const res = await server.request('GET', q);
    if (res.status !== 200) throw new Error(res.text);
    return (res.body.entry ?? []).map((e: Json) => e.resource.id).sort();
  };
  test('a stored value set with a filter and an exclude', async () => {
    expect(await ids('/Observation?code:in=http://example.org/fhir/ValueSet/urgent-triage')).toEqual(['t1']);
    expect(await ids('/Observation?code:not-in=http://example.org/fhir/ValueSet/urgent-triage')).toEqual(['t2', 't3']);
  });
  test('a value set loaded from profiles/ (not stored)', async () => {
    expect(await ids('/Location?type:in=https://arogya.dev/fhir/ValueSet/hms-dispensary-type')).toEqual(['pharmacy']);
  });
});

test('the CapabilityStatement lists the terminology operations', async () => {
  const res = await server.request('GET', '/metadata');
  const ops = (type: string): string[] => res.body.rest[0].resource.find((r: Json) => r.type === type).operation.map((o: Json) => o.name);
  expect(ops('ValueSet')).toEqual(expect.arrayContaining(['expand', 'validate-code']));
  expect(ops('CodeSystem')).toEqual(expect.arrayContaining(['lookup']));
});
