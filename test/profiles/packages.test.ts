/**
 * Profiles from IG package folders (AROGYA_IG_DIRS), profiles derived from other profiles, `$validate?profile=`
 * and AROGYA_REQUIRE_PROFILES=hms, over HTTP. The package is a tiny US Core subset written for these tests
 * (fixtures/us-core-mini), loaded at start-up like any unpacked IG package.
 */
import path from 'node:path';
import { loadConfig } from '../../server/config';
import { loadProfileSet } from '../../server/profiles-load';
import { type Json, useServer } from '../harness';
import * as hms from './hms-data';

const US = 'http://hl7.org/fhir/us/core/StructureDefinition';
const server = useServer({ config: { igDirs: [path.join(__dirname, 'fixtures', 'us-core-mini')], requireProfiles: 'hms' } });

const usPatient = (extra: Json = {}): Json => ({
  resourceType: 'Patient',
  meta: { profile: [`${US}/us-core-patient`] },
  identifier: [{ system: 'http://hospital.example.org/mrn', value: 'MRN-1001' }],
  name: [{ family: 'Shaw', given: ['Amy'] }],
  gender: 'female',
  extension: [{ url: `${US}/us-core-birthsex`, valueCode: 'F' }],
  ...extra,
});

const errorsOf = (body: Json): Json[] => body.issue.filter((i: Json) => i.severity === 'error');

describe('an IG package folder (AROGYA_IG_DIRS)', () => {
  test('the configuration reads the folder list', () => {
    expect(loadConfig({ AROGYA_IG_DIRS: ' /a/b , c ' }).igDirs).toEqual(['/a/b', path.resolve('c')]);
    expect(loadConfig({ AROGYA_REQUIRE_PROFILES: 'hms' }).requireProfiles).toBe('hms');
    expect(() => loadConfig({ AROGYA_REQUIRE_PROFILES: 'all' })).toThrow(/AROGYA_REQUIRE_PROFILES/);
    // A folder that is not a package stops the start with a message naming it.
    expect(() => loadProfileSet({ igDirs: [__dirname], requireProfiles: undefined })).toThrow(/is not an IG package folder \(no package\.json\)/);
  });

  test('a resource claiming a package profile is checked against it', async () => {
    // Not an HMS Patient claim: with AROGYA_REQUIRE_PROFILES=hms a Patient must also claim hms-patient.
    const ok = await server.request('POST', '/Patient/$validate', { body: usPatient() });
    expect(ok.status).toBe(200);
    const usIssues = errorsOf(ok.body).filter((i: Json) => /us-core/.test(i.diagnostics));
    expect(usIssues).toEqual([]);

    const bad = await server.request('POST', '/Patient/$validate', {
      body: usPatient({ gender: undefined, extension: [{ url: `${US}/us-core-birthsex`, valueCode: 'X' }], name: [{ text: 'Amy Shaw' }] }),
    });
    const errors = errorsOf(bad.body);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ expression: ['Patient.gender'], diagnostics: expect.stringMatching(/minimum cardinality 1.*us-core-patient/) }),
        expect.objectContaining({
          expression: ['Patient.extension[0].valueCode'],
          diagnostics: expect.stringMatching(/X is not in the value set http:\/\/hl7\.org\/fhir\/us\/core\/ValueSet\/birthsex/),
        }),
        expect.objectContaining({ expression: ['Patient'], diagnostics: expect.stringMatching(/^us-core-6/) }),
      ]),
    );
  });

  test('a profile derived from a package profile holds both', async () => {
    const body = usPatient({ meta: { profile: ['http://example.org/fhir/StructureDefinition/us-core-patient-contactable'] }, gender: undefined });
    const res = await server.request('POST', '/Patient/$validate', { body });
    const diagnostics = errorsOf(res.body).map((i: Json) => `${i.expression[0]} ${i.diagnostics}`);
    expect(diagnostics).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Patient\.telecom .*us-core-patient-contactable/),
        expect.stringMatching(/^Patient\.gender .*us-core-patient\)/),
      ]),
    );
  });
});

describe('$validate?profile=', () => {
  test('validates against any loaded profile, claimed or not', async () => {
    const plain = { resourceType: 'Organization', name: 'Corner Clinic' };
    const res = await server.request('POST', `/Organization/$validate?profile=${encodeURIComponent(`${hms.SD}/hms-organization`)}`, { body: plain });
    expect(res.status).toBe(200);
    expect(errorsOf(res.body).map((i: Json) => i.diagnostics)).toEqual(
      expect.arrayContaining([expect.stringMatching(/hms-org-1/), expect.stringMatching(/Organization\.identifier: minimum cardinality 1/)]),
    );
    const params = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: usPatient({ meta: undefined }) },
        { name: 'profile', valueUri: `${US}/us-core-patient` },
      ],
    };
    const viaParameters = await server.request('POST', '/Patient/$validate', { body: params });
    expect(viaParameters.status).toBe(200);
    expect(errorsOf(viaParameters.body).filter((i: Json) => /us-core-patient\)/.test(i.diagnostics))).toEqual([]);
  });

  test('an unknown profile is a 400', async () => {
    const res = await server.request('POST', '/Patient/$validate?profile=http://example.org/nope', { body: usPatient() });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/not loaded/);
  });
});

describe('AROGYA_REQUIRE_PROFILES=hms', () => {
  test('a Patient must claim the HMS Patient profile, and conform to it', async () => {
    const unclaimed = { ...hms.patient(), meta: undefined };
    const res = await server.request('POST', '/Patient', { body: unclaimed });
    expect(res.status).toBe(422);
    expect(errorsOf(res.body)).toEqual([
      expect.objectContaining({
        expression: ['Patient.meta.profile'],
        diagnostics: expect.stringMatching(/must claim the profile https:\/\/arogya\.dev\/fhir\/StructureDefinition\/hms-patient/),
      }),
    ]);
    const claimedButBad = { ...hms.patient(), birthDate: undefined };
    const bad = await server.request('POST', '/Patient', { body: claimedButBad });
    expect(bad.status).toBe(422);
    expect(errorsOf(bad.body)[0].expression).toEqual(['Patient.birthDate']);
    const good = await server.request('POST', '/Patient', { body: hms.patient() });
    expect(good.status).toBe(201);
  });

  test('only dispensaries and stock items among Locations and Basics', async () => {
    const org = await hms.create(server, hms.hospital());
    const ward = { resourceType: 'Location', name: 'Ward 3', status: 'active' };
    expect((await server.request('POST', '/Location', { body: ward })).status).toBe(201);
    const pharmacy = { ...hms.dispensary(org.id), meta: undefined };
    const refused = await server.request('POST', '/Location', { body: pharmacy });
    expect(refused.status).toBe(422);
    expect(errorsOf(refused.body)[0].diagnostics).toMatch(/hms-dispensary/);
    const note = { resourceType: 'Basic', code: { text: 'note' } };
    expect((await server.request('POST', '/Basic', { body: note })).status).toBe(201);
  });
});

describe('StructureDefinition/$snapshot', () => {
  test('a loaded profile: its differential over the base R4 definitions', async () => {
    const res = await server.request('GET', `/StructureDefinition/$snapshot?url=${hms.SD}/hms-patient`);
    expect(res.status).toBe(200);
    const elements: Json[] = res.body.snapshot.element;
    const byId = new Map(elements.map((e) => [e.id, e]));
    for (const d of res.body.differential.element) expect(byId.has(d.id)).toBe(true);
    expect(byId.get('Patient.gender')).toMatchObject({ min: 1, max: '1', base: { path: 'Patient.gender', min: 0, max: '1' } });
    expect(byId.get('Patient.identifier:nhid.system')).toMatchObject({ min: 1, fixedUri: 'https://healthid.abdm.gov.in', type: [{ code: 'uri' }] });
    // Unconstrained elements come from the R4 definition, with its cardinality and types.
    expect(byId.get('Patient.maritalStatus')).toMatchObject({ min: 0, max: '1', type: [{ code: 'CodeableConcept' }] });
    expect(elements.length).toBeGreaterThan(res.body.differential.element.length);
    const missing = await server.request('GET', '/StructureDefinition/$snapshot?url=http://example.org/nope');
    expect(missing.status).toBe(404);
  });

  test('a posted profile on a loaded profile', async () => {
    const sd = {
      resourceType: 'StructureDefinition',
      url: 'http://example.org/fhir/StructureDefinition/adult',
      name: 'Adult',
      status: 'draft',
      kind: 'resource',
      abstract: false,
      type: 'Patient',
      baseDefinition: `${US}/us-core-patient`,
      derivation: 'constraint',
      differential: { element: [{ id: 'Patient.birthDate', path: 'Patient.birthDate', min: 1 }] },
    };
    const res = await server.request('POST', '/StructureDefinition/$snapshot', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'definition', resource: sd }] },
    });
    expect(res.status).toBe(200);
    const byId = new Map((res.body.snapshot.element as Json[]).map((e) => [e.id, e]));
    expect(byId.get('Patient.birthDate')).toMatchObject({ min: 1 });
    expect(byId.get('Patient.gender')).toMatchObject({ min: 1 }); // from us-core-patient
    expect(byId.get('Patient.extension:birthsex')).toMatchObject({ max: '1' });
  });
});
