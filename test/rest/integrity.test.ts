/**
 * Referential integrity (on by default): references to resources that do not exist are refused (422, naming
 * them); deleting a resource that others reference is refused (409, listing referrers); concurrent
 * delete-vs-reference races cannot leave a dangling reference. Switchable off for migrations.
 */
import { startServer, useServer } from '../harness';

const server = useServer();

async function hospitalAndPatient() {
  const org = await server.request('POST', '/Organization', { body: { resourceType: 'Organization', name: 'Arogya Hospital, Kochi' } });
  const patient = await server.request('POST', '/Patient', {
    body: { resourceType: 'Patient', gender: 'female', managingOrganization: { reference: `Organization/${org.body.id}` } },
  });
  expect(patient.status).toBe(201);
  return { orgId: org.body.id as string, patientId: patient.body.id as string };
}

test('a reference to a missing resource is refused with 422 naming it and its path', async () => {
  const res = await server.request('POST', '/Encounter', {
    body: {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: 'Patient/does-not-exist' },
      extension: [{ url: 'http://example.org/attending', valueReference: { reference: 'Practitioner/ghost' } }],
    },
  });
  expect(res.status).toBe(422);
  const diags = res.body.issue.map((i: { diagnostics: string }) => i.diagnostics).join('\n');
  expect(diags).toContain('Patient/does-not-exist');
  expect(diags).toContain('Practitioner/ghost');
  expect(res.body.issue.map((i: { expression: string[] }) => i.expression[0])).toEqual(
    expect.arrayContaining(['Encounter.subject.reference', 'Encounter.extension[0].valueReference.reference']),
  );
});

test('absolute references to this server count; external URLs, contained and urn refs are not checked', async () => {
  const { patientId } = await hospitalAndPatient();
  const ok = await server.request('POST', '/Observation', {
    body: {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Haemoglobin' },
      subject: { reference: `${server.base}/Patient/${patientId}` },
      performer: [{ reference: 'https://other.example.org/fhir/Practitioner/1' }, { reference: '#p1' }],
      contained: [{ resourceType: 'Practitioner', id: 'p1', name: [{ text: 'Dr. Rao' }] }],
    },
  });
  expect(ok.status).toBe(201);
  const bad = await server.request('POST', '/Observation', {
    body: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `${server.base}/Patient/missing` } },
  });
  expect(bad.status).toBe(422);
});

test('deleting a referenced resource → 409 listing the referrers; after they go, it can be deleted', async () => {
  const { orgId, patientId } = await hospitalAndPatient();
  const res = await server.request('DELETE', `/Organization/${orgId}`);
  expect(res.status).toBe(409);
  expect(res.body.issue[0].diagnostics).toContain(`Patient/${patientId}`);
  expect((await server.request('DELETE', `/Patient/${patientId}`)).status).toBe(204);
  expect((await server.request('DELETE', `/Organization/${orgId}`)).status).toBe(204);
});

test('removing the reference by update releases the target', async () => {
  const { orgId, patientId } = await hospitalAndPatient();
  const p = (await server.request('GET', `/Patient/${patientId}`)).body;
  delete p.managingOrganization;
  expect((await server.request('PUT', `/Patient/${patientId}`, { body: p })).status).toBe(200);
  expect((await server.request('DELETE', `/Organization/${orgId}`)).status).toBe(204);
});

test('concurrent delete of a target and creates referencing it never leave a dangling reference', async () => {
  for (let round = 0; round < 5; round++) {
    const org = await server.request('POST', '/Organization', { body: { resourceType: 'Organization', name: `Race ${round}` } });
    const oid = org.body.id;
    const [del, ...creates] = await Promise.all([
      server.request('DELETE', `/Organization/${oid}`),
      ...Array.from({ length: 5 }, () =>
        server.request('POST', '/Patient', { body: { resourceType: 'Patient', managingOrganization: { reference: `Organization/${oid}` } } }),
      ),
    ]);
    const created = creates.filter((c) => c.status === 201).length;
    if (del.status === 204) expect(created).toBe(0);
    else {
      expect(del.status).toBe(409);
      expect(created).toBeGreaterThan(0);
    }
    expect(creates.every((c) => c.status === 201 || c.status === 422)).toBe(true);
  }
});

test('with referential integrity off, dangling references are accepted (migrations)', async () => {
  const lax = await startServer({ referentialIntegrity: false });
  try {
    const res = await lax.request('POST', '/Patient', {
      body: { resourceType: 'Patient', managingOrganization: { reference: 'Organization/later' } },
    });
    expect(res.status).toBe(201);
  } finally {
    await lax.close();
  }
});
