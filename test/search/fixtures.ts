/**
 * Small hand-made fixtures for the search tests: every expected result set in test/search/*.test.ts is computed by
 * hand from these resources. Loaded by PUT (fixed ids) in dependency order.
 */
import type { TestServer } from '../harness';

type Json = Record<string, any>;

export const NHID = 'https://healthid.abdm.gov.in';
export const NHID_LEGACY = 'https://healthid.ndhm.gov.in';
export const ID_TYPES = 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code';
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';

const hin = { coding: [{ system: ID_TYPES, code: 'HIN' }], text: 'Health ID' };

export const resources: Json[] = [
  {
    resourceType: 'Organization',
    id: 'org1',
    name: 'Ruby Hall Clinic',
    identifier: [{ system: 'https://facility.ndhm.gov.in', value: 'IN2710000001' }],
  },
  { resourceType: 'Organization', id: 'org2', name: 'Sahyadri Hospital', partOf: { reference: 'Organization/org1' } },
  { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Rao', given: ['Meera'] }] },
  {
    resourceType: 'Patient',
    id: 'p1',
    meta: {
      tag: [{ system: 'urn:tags', code: 'vip' }],
      profile: ['http://example.org/StructureDefinition/hms-patient'],
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
      source: 'http://source.example/ehr-a',
    },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Anna lives in <b>Pune</b></div>' },
    identifier: [{ type: hin, system: NHID, value: '91-1234-5678-9012' }],
    active: true,
    name: [{ family: 'Müller', given: ['Anna'] }],
    telecom: [{ system: 'phone', value: '555-1000' }],
    gender: 'female',
    birthDate: '1980-05-15',
    address: [{ city: 'Pune', state: 'Maharashtra', postalCode: '411001' }],
    managingOrganization: { reference: 'Organization/org1' },
    generalPractitioner: [{ reference: 'Practitioner/dr1' }],
  },
  {
    resourceType: 'Patient',
    id: 'p2',
    identifier: [{ type: hin, system: NHID_LEGACY, value: '22-7225-4829-5255' }],
    active: false,
    name: [{ family: 'Mueller', given: ['Bob'] }],
    gender: 'male',
    birthDate: '1975',
    address: [{ city: 'Mumbai' }],
    managingOrganization: { reference: 'Organization/org2' },
  },
  {
    resourceType: 'Patient',
    id: 'p3',
    identifier: [
      { system: NHID, value: '12345678901234' },
      { system: 'urn:hms:mrn', value: 'MRN-3' },
    ],
    name: [{ family: 'Smith', given: ['Chandra'] }],
    gender: 'other',
    birthDate: '1990-01-01',
  },
  {
    resourceType: 'Patient',
    id: 'p4',
    name: [
      { family: 'García', given: ['Ana'] },
      { use: 'nickname', text: 'Anita' },
    ],
    gender: 'female',
    deceasedBoolean: true,
  },
  {
    resourceType: 'CodeSystem',
    id: 'cs1',
    url: 'http://example.org/cs',
    status: 'active',
    content: 'complete',
    concept: [{ code: 'A', concept: [{ code: 'A1', concept: [{ code: 'A11' }] }] }, { code: 'B' }],
  },
  {
    resourceType: 'ValueSet',
    id: 'vs1',
    url: 'http://example.org/vs/bp',
    status: 'active',
    compose: { include: [{ system: LOINC, concept: [{ code: '8480-6' }] }] },
  },
  {
    resourceType: 'ValueSet',
    id: 'vs2',
    url: 'http://example.org/vs/all-cs',
    status: 'active',
    compose: { include: [{ system: 'http://example.org/cs' }] },
  },
  {
    resourceType: 'Encounter',
    id: 'e1',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: 'Patient/p1' },
    participant: [{ individual: { reference: 'Practitioner/dr1' } }],
    period: { start: '2024-03-01T09:00:00Z', end: '2024-03-01T11:00:00Z' },
    serviceProvider: { reference: 'Organization/org1' },
  },
  {
    resourceType: 'Encounter',
    id: 'e2',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
    subject: { reference: 'Patient/p2' },
    period: { start: '2023-01-01' },
    serviceProvider: { reference: 'Organization/org2' },
  },
  obs(
    'o1',
    'p1',
    '8480-6',
    'Systolic blood pressure',
    { valueQuantity: { value: 120, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
    { effectiveDateTime: '2024-03-01T10:00:00Z', encounter: { reference: 'Encounter/e1' } },
  ),
  obs(
    'o2',
    'p1',
    '29463-7',
    'Body weight',
    { valueQuantity: { value: 70, unit: 'kg', system: UCUM, code: 'kg' } },
    { effectiveDateTime: '2024-03-02' },
  ),
  obs(
    'o3',
    'p2',
    '29463-7',
    'Body weight',
    { valueQuantity: { value: 70000, unit: 'g', system: UCUM, code: 'g' } },
    { effectivePeriod: { start: '2024-02-01', end: '2024-02-10' } },
  ),
  obs(
    'o4',
    'p2',
    '8480-6',
    'Systolic blood pressure',
    { valueQuantity: { value: 140.5, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
    { effectiveDateTime: '2023-12-31T23:00:00Z', status: 'preliminary' },
  ),
  obs('o5', 'p3', undefined, 'Dengue NS1 antigen', { valueString: 'Positive result' }, {}),
  {
    resourceType: 'Observation',
    id: 'o6',
    status: 'final',
    code: { coding: [{ system: 'http://example.org/cs', code: 'A11' }] },
    subject: { reference: 'Patient/p3' },
    valueQuantity: { value: 3.5, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
    effectiveDateTime: '2022-06-15',
  },
  { resourceType: 'RiskAssessment', id: 'ra1', status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 0.25 }] },
  { resourceType: 'RiskAssessment', id: 'ra2', status: 'final', subject: { reference: 'Patient/p2' }, prediction: [{ probabilityDecimal: 0.7 }] },
  {
    resourceType: 'List',
    id: 'l1',
    status: 'current',
    mode: 'working',
    entry: [{ item: { reference: 'Observation/o1' } }, { item: { reference: 'Observation/o3' } }, { item: { reference: 'Patient/p3' } }],
  },
];

function obs(id: string, patient: string, code: string | undefined, text: string, value: Json, extra: Json): Json {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: code ? { coding: [{ system: LOINC, code, display: text }], text } : { text },
    subject: { reference: `Patient/${patient}` },
    ...value,
    ...extra,
  };
}

export async function loadFixtures(server: TestServer, list: Json[] = resources): Promise<void> {
  for (const r of list) {
    const res = await server.request('PUT', `/${r.resourceType}/${r.id}`, { body: r });
    if (res.status !== 201 && res.status !== 200) throw new Error(`PUT ${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
  }
}

/** The ids of the match entries of a search (sorted unless `ordered`). */
export async function matchIds(server: TestServer, query: string, headers: Record<string, string> = {}, ordered = false): Promise<string[]> {
  const res = await server.request('GET', query, { headers });
  if (res.status !== 200) throw new Error(`GET ${query}: ${res.status} ${res.text}`);
  const ids = ((res.body.entry ?? []) as Json[]).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id as string);
  return ordered ? ids : ids.sort();
}
