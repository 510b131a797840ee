/**
 * Every access to patient data leaves an AuditEvent (issue 11 point 10) in the Basic Audit Log Patterns shape: reads,
 * searches, history, $everything and writes name the patient(s) involved, the resources (reads, writes) or the query
 * and its count (searches), the outcome; AuditEvents are read and searched through the FHIR API, and refused as writes.
 */
import { useServer, type Json } from '../harness';

const server = useServer();

async function flush(): Promise<void> {
  await server.app.audit!.flush();
}

/** The AuditEvents with this request id (each request sends its own X-Request-Id). */
async function eventsOf(requestId: string): Promise<Json[]> {
  await flush();
  const { rows } = await server.pool.query<{ id: string }>('SELECT id::text FROM audit_event WHERE request_id = $1', [requestId]);
  const out: Json[] = [];
  for (const r of rows) {
    const res = await server.request('GET', `/AuditEvent/${r.id}`);
    expect(res.status).toBe(200);
    out.push(res.body);
  }
  return out;
}

let n = 0;
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; requestId: string }> {
  const requestId = `audit-test-${++n}`;
  const res = await server.request(method, path, { body, headers: { 'x-request-id': requestId } });
  return { status: res.status, body: res.body, requestId };
}

const patients = (e: Json): string[] => (e.entity ?? []).filter((x: Json) => x.role?.code === '1').map((x: Json) => x.what.reference as string);
const resources = (e: Json): string[] => (e.entity ?? []).filter((x: Json) => x.role?.code === '4').map((x: Json) => x.what.reference as string);
const query = (e: Json): Json | undefined => (e.entity ?? []).find((x: Json) => x.role?.code === '24');

let patientId: string;
let otherId: string;
let observationId: string;

beforeAll(async () => {
  patientId = (await server.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'female' } })).body.id;
  otherId = (await server.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'male' } })).body.id;
  observationId = (
    await server.request('POST', '/Observation', {
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/${patientId}` },
      },
    })
  ).body.id;
});

test('a read names the patient the resource belongs to, the resource and success', async () => {
  const r = await call('GET', `/Observation/${observationId}`);
  expect(r.status).toBe(200);
  const [e] = await eventsOf(r.requestId);
  expect(e.resourceType).toBe('AuditEvent');
  expect(e.type).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' });
  expect(e.subtype).toEqual([{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }]);
  expect(e.action).toBe('R');
  expect(e.outcome).toBe('0');
  expect(patients(e)).toEqual([`Patient/${patientId}`]);
  expect(resources(e)).toEqual([`Observation/${observationId}/_history/1`]);
  expect(e.meta.profile).toEqual(['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead']);
  expect(e.agent.some((a: Json) => a.network?.address === '127.0.0.1' || a.network?.address === '::ffff:127.0.0.1')).toBe(true);
  expect(Date.parse(e.recorded)).toBeGreaterThan(Date.now() - 60_000);
});

test('a search records its query and count, and the patients of what it returned', async () => {
  const r = await call('GET', `/Observation?code=8867-4`);
  expect(r.status).toBe(200);
  const [e] = await eventsOf(r.requestId);
  expect(e.subtype[0].code).toBe('search-type');
  expect(e.action).toBe('E');
  const q = query(e)!;
  expect(q.description).toBe('code=8867-4');
  expect(Buffer.from(q.query, 'base64').toString()).toBe('code=8867-4');
  expect(q.detail).toContainEqual({ type: 'count', valueString: '1' });
  expect(patients(e)).toEqual([`Patient/${patientId}`]);
  expect(resources(e)).toEqual([]); // a search lists no resources
});

test('a search by patient names that patient even when nothing matched', async () => {
  const r = await call('GET', `/Observation?subject=Patient/${otherId}`);
  const [e] = await eventsOf(r.requestId);
  expect(patients(e)).toEqual([`Patient/${otherId}`]);
  expect(query(e)!.detail).toContainEqual({ type: 'count', valueString: '0' });
});

test('writes name what they wrote and whose data it is; a failed read is a failure', async () => {
  const created = await call('POST', '/Observation', {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'pulse' },
    subject: { reference: `Patient/${otherId}` },
  });
  expect(created.status).toBe(201);
  const [c] = await eventsOf(created.requestId);
  expect([c.subtype[0].code, c.action, c.outcome]).toEqual(['create', 'C', '0']);
  expect(patients(c)).toEqual([`Patient/${otherId}`]);
  expect(resources(c)).toEqual([`Observation/${created.body.id}/_history/1`]);

  const deleted = await call('DELETE', `/Patient/${otherId}`);
  const [d] = await eventsOf(deleted.requestId);
  expect([d.subtype[0].code, d.action]).toEqual(['delete', 'D']);
  expect(patients(d)).toEqual([`Patient/${otherId}`]);

  const missing = await call('GET', '/Observation/no-such-id');
  expect(missing.status).toBe(404);
  const [m] = await eventsOf(missing.requestId);
  expect(m.outcome).toBe('4');
  expect(m.outcomeDesc).toBe('HTTP 404');
});

test('$everything, history and bundles are audited with their patients', async () => {
  const ev = await call('GET', `/Patient/${patientId}/$everything`);
  expect(ev.status).toBe(200);
  const [e] = await eventsOf(ev.requestId);
  expect(e.subtype.map((s: Json) => s.code)).toEqual(['operation', 'http://hl7.org/fhir/OperationDefinition/everything']);
  expect(patients(e)).toEqual([`Patient/${patientId}`]);

  const h = await call('GET', `/Observation/${observationId}/_history`);
  const [he] = await eventsOf(h.requestId);
  expect(he.subtype[0].code).toBe('history-instance');
  expect(patients(he)).toEqual([`Patient/${patientId}`]);

  const b = await call('POST', '', {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [{ request: { method: 'GET', url: `Observation/${observationId}` } }],
  });
  expect(b.status).toBe(200);
  const [be] = await eventsOf(b.requestId);
  expect(be.subtype[0].code).toBe('batch');
  expect(patients(be)).toEqual([`Patient/${patientId}`]);
  expect(resources(be)).toEqual([`Observation/${observationId}/_history/1`]);
});

test('AuditEvents are searchable by patient, date, subtype, action and outcome, newest first', async () => {
  const r = await call('GET', `/Observation/${observationId}`);
  await flush();
  const byPatient = await server.request('GET', `/AuditEvent?patient=Patient/${patientId}&subtype=read&_count=1`);
  expect(byPatient.status).toBe(200);
  expect(byPatient.body.entry).toHaveLength(1);
  const newest = byPatient.body.entry[0].resource;
  expect(byPatient.body.link.find((l: Json) => l.relation === 'next')).toBeDefined();
  const own = await eventsOf(r.requestId);
  expect(newest.id).toBe(own[0].id);

  const since = new Date(Date.now() - 60_000).toISOString();
  const dated = await server.request('GET', `/AuditEvent?date=ge${since}&outcome=4&action=R`);
  expect(dated.status).toBe(200);
  expect(dated.body.entry.length).toBeGreaterThan(0);
  for (const e of dated.body.entry) expect([e.resource.outcome, e.resource.action]).toEqual(['4', 'R']);

  const none = await server.request('GET', `/AuditEvent?date=lt2000-01-01`);
  expect(none.body.total).toBe(0);

  const unsupported = await server.request('GET', '/AuditEvent?policy=x');
  expect(unsupported.status).toBe(400);
});

test('the audit log is append-only: clients cannot create, update or delete AuditEvents', async () => {
  const [someEvent] = (await server.request('GET', '/AuditEvent?_count=1')).body.entry;
  const body = { ...someEvent.resource };
  expect((await server.request('POST', '/AuditEvent', { body })).status).toBe(405);
  expect((await server.request('PUT', `/AuditEvent/${body.id}`, { body })).status).toBe(405);
  expect((await server.request('DELETE', `/AuditEvent/${body.id}`)).status).toBe(405);
  const tx = await server.request('POST', '', {
    body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: body, request: { method: 'POST', url: 'AuditEvent' } }] },
  });
  expect(tx.status).toBe(405);
  expect((await server.request('GET', `/AuditEvent/${body.id}`)).status).toBe(200);
});

test('AuditEvents are reached through the same routes as every type: compartment, POST _search, bundle entries, _summary', async () => {
  await call('GET', `/Patient/${patientId}`);
  await flush();
  const compartment = await server.request('GET', `/Patient/${patientId}/AuditEvent?subtype=read`);
  expect(compartment.status).toBe(200);
  expect(compartment.body.entry.length).toBeGreaterThan(0);
  for (const e of compartment.body.entry) expect(patients(e.resource)).toContain(`Patient/${patientId}`);

  const posted = await server.request('POST', '/AuditEvent/_search', {
    body: `patient=${patientId}&action=R`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(posted.status).toBe(200);
  expect(posted.body.entry.map((e: Json) => e.resource.id)).toEqual(compartment.body.entry.map((e: Json) => e.resource.id));

  const counted = await server.request('GET', `/AuditEvent?patient=${patientId}&_summary=count`);
  expect(counted.body.total).toBeGreaterThanOrEqual(compartment.body.entry.length);

  const bundle = await server.request('POST', '', {
    body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `AuditEvent?patient=${patientId}&_count=1` } }] },
  });
  expect(bundle.body.entry[0].response.status).toBe('200 OK');
  expect(bundle.body.entry[0].resource.entry).toHaveLength(1);

  expect((await server.request('GET', '/?_type=AuditEvent,Patient')).status).toBe(400);
  expect((await server.request('GET', `/AuditEvent/${compartment.body.entry[0].resource.id}/_history`)).status).toBe(400);
  expect((await server.request('GET', `/AuditEvent/${compartment.body.entry[0].resource.id}/_history/1`)).status).toBe(200);
  expect((await server.request('GET', '/AuditEvent/not-a-uuid')).status).toBe(404);
});

test('a CORS preflight is not an access', async () => {
  const requestId = 'preflight-1';
  const res = await fetch(`${server.base}/Patient/${patientId}`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'x-request-id': requestId },
  });
  await res.arrayBuffer(); // 204 with SMART on (CORS), 405 with AROGYA_AUTH=off (no CORS): not audited either way
  expect(await eventsOf(requestId)).toEqual([]);
});
