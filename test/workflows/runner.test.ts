/**
 * The workflow runner (server/workflows/runner.ts, context.ts), with rules of the test's own: what sets a workflow
 * off (transitions, not states), exactly once under re-saves and concurrent conclusions, atomicity with the
 * triggering write, Provenance, the Flag and response warning of a workflow that cannot act, and that a
 * workflow's own writes set nothing off.
 */
import type { JsonObject } from '../../server/fhir/json';
import { SID, type WorkflowContext } from '../../server/workflows/context';
import type { WorkflowHandlers } from '../../server/workflows/runner';
import { startServer, type Json, type TestServer } from '../harness';

const calls: { rule: string; id: string }[] = [];
let failNext = false;

const handlers: WorkflowHandlers = {
  async prepareForEncounter(ctx: WorkflowContext, encounter: JsonObject) {
    calls.push({ rule: 'prepareForEncounter', id: String(encounter.id) });
    if (failNext) throw new Error('the rules failed half-way');
    const key = { system: `${SID}/test-key`, value: `Encounter/${encounter.id}` };
    await ctx.createOnce(
      {
        resourceType: 'Task',
        identifier: [key],
        status: 'requested',
        intent: 'order',
        focus: { reference: `Encounter/${encounter.id}` },
        for: encounter.subject as JsonObject,
      },
      key,
    );
  },
  async billEncounter(ctx, encounter) {
    calls.push({ rule: 'billEncounter', id: String(encounter.id) });
    ctx.note('warning', 'No price for the consultation', `Encounter/${encounter.id}`);
    // A workflow's own write of a dispense sets nothing off (dispenseChanged is not called for it).
    await ctx.create({ resourceType: 'MedicationDispense', status: 'preparation', medicationCodeableConcept: { text: 'Paracetamol 500 mg' } });
  },
  async prepareForRequest(_ctx, request) {
    calls.push({ rule: 'prepareForRequest', id: String(request.id) });
    return undefined;
  },
  async requestEnded(_ctx, request) {
    calls.push({ rule: 'requestEnded', id: String(request.id) });
    return [];
  },
  async dispenseChanged(_ctx, _previous, dispense) {
    calls.push({ rule: 'dispenseChanged', id: String(dispense.id) });
    return undefined;
  },
  async delivered(_ctx, delivery) {
    calls.push({ rule: 'delivered', id: String(delivery.id) });
    return [];
  },
  async cancelForEncounter(_ctx, encounter) {
    calls.push({ rule: 'cancelForEncounter', id: String(encounter.id) });
  },
  async cancelEncounterBilling(_ctx, encounter) {
    calls.push({ rule: 'cancelEncounterBilling', id: String(encounter.id) });
  },
  async dispenseCancelled(_ctx, dispense) {
    calls.push({ rule: 'dispenseCancelled', id: String(dispense.id) });
  },
};

let server: TestServer;
let patient: string;
beforeAll(async () => {
  server = await startServer({ workflows: true }, { workflows: handlers });
  const p = await server.request('POST', '/Patient', {
    body: {
      resourceType: 'Patient',
      identifier: [{ system: 'https://healthid.abdm.gov.in', value: '12345678901234' }],
      name: [{ text: 'Asha Verma' }],
      gender: 'female',
      birthDate: '1990-04-12',
    },
  });
  expect(p.status).toBe(201);
  patient = `Patient/${p.body.id}`;
});
afterAll(async () => server?.close());

const rulesFor = (id: string) => calls.filter((c) => c.id === id).map((c) => c.rule);

function encounter(status: string, extra: Json = {}): Json {
  return {
    resourceType: 'Encounter',
    status,
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    subject: { reference: patient },
    ...extra,
  };
}

async function newVisit(): Promise<string> {
  const r = await server.request('POST', '/Encounter', { body: encounter('in-progress') });
  expect(r.status).toBe(201);
  return r.body.id as string;
}

async function search(query: string): Promise<Json[]> {
  const r = await server.request('GET', `/${query}`);
  expect(r.status).toBe(200);
  return ((r.body.entry as Json[] | undefined) ?? []).map((e) => e.resource as Json);
}

test('concluding a visit runs the rules once, in the same write, with a Provenance, a Flag and a response warning', async () => {
  const id = await newVisit();
  expect(rulesFor(id)).toEqual([]);
  const put = await server.request('PUT', `/Encounter/${id}`, {
    body: { ...encounter('finished'), id },
    headers: { prefer: 'return=OperationOutcome' },
  });
  expect(put.status).toBe(200);
  expect(put.body.resourceType).toBe('OperationOutcome');
  expect(JSON.stringify(put.body.issue)).toContain('billing: No price for the consultation');
  expect(rulesFor(id)).toEqual(['prepareForEncounter', 'billEncounter']);

  // The effects are readable as soon as the response is in.
  const [task] = await search(`Task?identifier=${encodeURIComponent(`${SID}/test-key|Encounter/${id}`)}`);
  expect(task.focus).toEqual({ reference: `Encounter/${id}` });
  const [device] = await search(`Device?identifier=${encodeURIComponent(`${SID}/workflow|dispensing`)}`);
  expect(device).toBeDefined();
  const provenances = await search(`Provenance?target=Task/${task.id}`);
  expect(provenances).toHaveLength(1);
  expect(provenances[0].entity).toEqual([{ role: 'source', what: { reference: `Encounter/${id}/_history/2` } }]);
  expect(JSON.stringify(provenances[0].agent)).toContain(`Device/${device.id}`);

  const flags = await search(`Flag?encounter=Encounter/${id}`);
  expect(flags).toHaveLength(1);
  expect(flags[0]).toMatchObject({ status: 'active', subject: { reference: patient } });
  expect((flags[0].code as Json).text).toContain('No price for the consultation');
  const billingDevice = (await search(`Device?identifier=${encodeURIComponent(`${SID}/workflow|billing`)}`))[0];
  expect(flags[0].author).toEqual({ reference: `Device/${billingDevice.id}` });

  // The workflow's own MedicationDispense set off nothing.
  const dispenses = await search(`Provenance?agent=Device/${billingDevice.id}`);
  expect(dispenses.length).toBeGreaterThan(0);
  expect(calls.filter((c) => c.rule === 'dispenseChanged')).toEqual([]);
});

test('re-saving a finished visit, or saving it unchanged, sets nothing off; leaving and concluding again does', async () => {
  const id = await newVisit();
  expect((await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('finished'), id } })).status).toBe(200);
  expect((await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('finished'), id } })).status).toBe(200);
  const changed = { ...encounter('finished', { period: { start: '2026-12-05T09:00:00Z', end: '2026-12-05T09:20:00Z' } }), id };
  expect((await server.request('PUT', `/Encounter/${id}`, { body: changed })).status).toBe(200);
  expect(rulesFor(id)).toEqual(['prepareForEncounter', 'billEncounter']);
  // Re-opened and concluded again: a new transition; the rules decide what (if anything) is new.
  expect((await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('in-progress'), id } })).status).toBe(200);
  expect((await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('finished'), id } })).status).toBe(200);
  expect(rulesFor(id)).toEqual(['prepareForEncounter', 'billEncounter', 'prepareForEncounter', 'billEncounter']);
  expect(await search(`Task?focus=Encounter/${id}`)).toHaveLength(1);
  // Cancelling is a transition of its own.
  expect((await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('cancelled'), id } })).status).toBe(200);
  expect(rulesFor(id).slice(-2)).toEqual(['cancelForEncounter', 'cancelEncounterBilling']);
});

test('20 concurrent PUTs concluding the same visit run the rules exactly once', async () => {
  const id = await newVisit();
  const puts = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      server.request('PUT', `/Encounter/${id}`, {
        body: { ...encounter('finished', { period: { end: `2026-12-05T10:${String(i).padStart(2, '0')}:00Z` } }), id },
      }),
    ),
  );
  for (const p of puts) expect(p.status).toBe(200);
  expect(rulesFor(id)).toEqual(['prepareForEncounter', 'billEncounter']);
  expect(await search(`Task?focus=Encounter/${id}`)).toHaveLength(1);
});

test('rules that fail roll the triggering write back with them: nothing half-done is kept', async () => {
  const id = await newVisit();
  failNext = true;
  try {
    const put = await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('finished'), id } });
    expect(put.status).toBe(500);
    expect(put.body.resourceType).toBe('OperationOutcome');
  } finally {
    failNext = false;
  }
  const current = await server.request('GET', `/Encounter/${id}`);
  expect(current.body.status).toBe('in-progress');
  expect((current.body.meta as Json).versionId).toBe('1');
  // The ledger entry rolled back too: concluding now runs the rules.
  expect((await server.request('PUT', `/Encounter/${id}`, { body: { ...encounter('finished'), id } })).status).toBe(200);
  expect(await search(`Task?focus=Encounter/${id}`)).toHaveLength(1);
});

test('a transaction bundle concluding a visit runs the rules and reports their warnings in the entry', async () => {
  const id = await newVisit();
  const r = await server.request('POST', '/', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: { ...encounter('finished'), id }, request: { method: 'PUT', url: `Encounter/${id}` } }],
    },
  });
  expect(r.status).toBe(200);
  const entry = (r.body.entry as Json[])[0];
  expect(JSON.stringify((entry.response as Json).outcome)).toContain('No price for the consultation');
  expect(rulesFor(id)).toEqual(['prepareForEncounter', 'billEncounter']);
});

test('other triggers: prescriptions, dispenses, deliveries; unrelated writes and states set nothing off', async () => {
  const mr = await server.request('POST', '/MedicationRequest', {
    body: {
      resourceType: 'MedicationRequest',
      status: 'draft',
      intent: 'order',
      subject: { reference: patient },
      medicationCodeableConcept: { text: 'Amoxicillin 500 mg' },
    },
  });
  const mrId = mr.body.id as string;
  expect(rulesFor(mrId)).toEqual([]);
  const active = { ...(mr.body as Json), status: 'active' };
  expect((await server.request('PUT', `/MedicationRequest/${mrId}`, { body: active })).status).toBe(200);
  expect((await server.request('PUT', `/MedicationRequest/${mrId}`, { body: { ...active, note: [{ text: 'after food' }] } })).status).toBe(200);
  expect((await server.request('PUT', `/MedicationRequest/${mrId}`, { body: { ...active, status: 'stopped' } })).status).toBe(200);
  expect(rulesFor(mrId)).toEqual(['prepareForRequest', 'requestEnded']);

  const md = await server.request('POST', '/MedicationDispense', {
    body: { resourceType: 'MedicationDispense', status: 'preparation', medicationCodeableConcept: { text: 'Amoxicillin 500 mg' } },
  });
  const mdId = md.body.id as string;
  expect((await server.request('PUT', `/MedicationDispense/${mdId}`, { body: { ...(md.body as Json), status: 'completed' } })).status).toBe(200);
  expect(rulesFor(mdId)).toEqual(['dispenseChanged', 'dispenseChanged']);

  const sd = await server.request('POST', '/SupplyDelivery', { body: { resourceType: 'SupplyDelivery', status: 'in-progress' } });
  const sdId = sd.body.id as string;
  expect(rulesFor(sdId)).toEqual([]);
  expect((await server.request('PUT', `/SupplyDelivery/${sdId}`, { body: { ...(sd.body as Json), status: 'completed' } })).status).toBe(200);
  expect(rulesFor(sdId)).toEqual(['delivered']);

  const obs = await server.request('POST', '/Observation', {
    body: { resourceType: 'Observation', status: 'final', code: { text: 'Body weight' }, subject: { reference: patient } },
  });
  expect(obs.status).toBe(201);
  expect(rulesFor(obs.body.id as string)).toEqual([]);
});
