/**
 * Exactly once across a crash (issue 12, "fault tests"): a real server process takes a burst of concurrent visit
 * conclusions and is SIGKILLed in the middle of it. After a restart on the same database, every visit is either
 * concluded with exactly one invoice and one dispense per prescription line — always so for every conclusion the
 * server acknowledged — or not concluded with neither; stock reserved equals what the prepared dispenses hold.
 * Concluding the rest after the restart then completes the picture without duplicating anything.
 */
import { freePort } from '../../server/database/embedded';
import { createTestDatabase, fhirClient, type Json, type TestServer } from '../harness';
import { killIfRunning, procAuth, start, waitReady, type Proc } from '../server/processes';
import { BASE, EXT, SID, SNOMED, create, hospital, medication, quantityExt, read, search, stockItem, type Hospital } from './hms-dispensary';

jest.setTimeout(300_000);

const VISITS = 24;
const PER_LINE = 2;

let databaseUrl = '';
let port = 0;
let proc: Proc | undefined;
let server: TestServer;

async function startProc(): Promise<void> {
  proc = start(['serve'], {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    AROGYA_BASE_URL: `http://127.0.0.1:${port}/fhir`,
    AROGYA_WORKERS: '1',
    AROGYA_POOL_SIZE: '12',
    LOG_LEVEL: 'warn',
  });
  await waitReady(port, proc);
  const origin = `http://127.0.0.1:${port}`;
  server = fhirClient(`${origin}/fhir`, procAuth(origin).token) as TestServer;
}

afterAll(async () => killIfRunning(proc));

const price = (url: string, amount: number, extra: Json = {}): Json => ({
  resourceType: 'ChargeItemDefinition',
  url,
  status: 'active',
  ...extra,
  propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: amount, currency: 'INR' } }] }],
});

test('SIGKILL during a burst of visit conclusions: after restart, no lost or duplicated invoice or dispense, stock correct', async () => {
  databaseUrl = await createTestDatabase();
  port = await freePort();
  await startProc();

  const h: Hospital = await hospital(server, { nhid: '12345678901234' });
  const med = await medication(server, { code: '322236009', text: 'Paracetamol 500 mg tablet' }, { lot: 'PCM-2611', expiry: '2028-06-30' });
  const item = await stockItem(server, h, med, 1000);
  await create(server, price(`${BASE}/ChargeItemDefinition/consult-${h.role.id}`, 500, { code: { text: 'Consultation' } }));
  await create(server, price(`${BASE}/ChargeItemDefinition/medicine-${med.id}`, 2.5, { instance: [{ reference: `Medication/${med.id}` }] }));

  const visits: { encounter: Json; request: Json }[] = [];
  for (let i = 0; i < VISITS; i++) {
    const encounter = await create(server, {
      resourceType: 'Encounter',
      status: 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      type: [{ coding: [{ system: SNOMED, code: '11429006', display: 'Consultation' }] }],
      subject: { reference: `Patient/${h.patient.id}` },
      participant: [{ individual: { reference: `PractitionerRole/${h.role.id}` } }],
      serviceProvider: { reference: `Organization/${h.org.id}` },
      period: { start: '2026-12-05T09:00:00+05:30' },
    });
    const request = await create(server, {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: {
        coding: [{ system: SNOMED, code: '322236009', display: 'Paracetamol 500 mg tablet' }],
        text: 'Paracetamol 500 mg',
      },
      subject: { reference: `Patient/${h.patient.id}` },
      encounter: { reference: `Encounter/${encounter.id}` },
      authoredOn: '2026-12-05T09:10:00+05:30',
      requester: { reference: `PractitionerRole/${h.role.id}` },
      dosageInstruction: [{ text: '1 tablet twice a day after food' }],
      dispenseRequest: { quantity: { value: PER_LINE, unit: 'tablet' } },
    });
    visits.push({ encounter, request });
  }

  // The burst: every conclusion in flight at once; the server is killed once the first few have been answered.
  const acknowledged = new Set<string>();
  let answered = 0;
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    proc!.child.kill('SIGKILL');
  };
  const burst = visits.map(async ({ encounter }) => {
    const res = await server
      .request('PUT', `/Encounter/${encounter.id}`, { body: { ...encounter, status: 'finished' } })
      .catch(() => ({ status: 0 }) as { status: number });
    if (res.status === 200) acknowledged.add(encounter.id as string);
    if (++answered >= 4) kill();
  });
  const watchdog = setTimeout(kill, 60_000); // a safety net only: the 4th answer triggers the kill
  await Promise.all(burst);
  clearTimeout(watchdog);
  kill();
  await proc!.exited;

  await startProc();
  const check = async () => {
    let concluded = 0;
    let reservedExpected = 0;
    for (const { encounter, request } of visits) {
      const current = await read(server, `Encounter/${encounter.id}`);
      const invoices = await search(server, `Invoice?identifier=${encodeURIComponent(`${SID}/invoice-key|Encounter/${encounter.id}`)}`);
      const dispenses = await search(server, `MedicationDispense?prescription=MedicationRequest/${request.id}`);
      if (acknowledged.has(encounter.id as string))
        expect({ id: encounter.id, status: current.status }).toEqual({ id: encounter.id, status: 'finished' });
      if (current.status === 'finished') {
        concluded++;
        expect({ id: encounter.id, invoices: invoices.length, dispenses: dispenses.length }).toEqual({ id: encounter.id, invoices: 1, dispenses: 1 });
        expect(invoices[0].status).toBe('issued');
        expect(dispenses[0].status).toBe('preparation');
        reservedExpected += PER_LINE;
      } else {
        expect({ id: encounter.id, invoices: invoices.length, dispenses: dispenses.length }).toEqual({ id: encounter.id, invoices: 0, dispenses: 0 });
      }
    }
    const stock = await read(server, `Basic/${item.id}`);
    expect({ onHand: quantityExt(stock, EXT.onHand), reserved: quantityExt(stock, EXT.reserved) ?? 0 }).toEqual({
      onHand: 1000,
      reserved: reservedExpected,
    });
    return concluded;
  };
  const before = await check();
  // The kill really interrupted the burst (some answered, not all concluded) — else the test proved nothing.
  expect(acknowledged.size).toBeGreaterThan(0);
  expect(before).toBeLessThan(VISITS);

  // Concluding the rest now (and re-sending the concluded ones, as a client retrying would) completes it exactly once.
  for (const { encounter } of visits) {
    const res = await server.request('PUT', `/Encounter/${encounter.id}`, { body: { ...encounter, status: 'finished' } });
    expect(res.status).toBe(200);
  }
  expect(await check()).toBe(VISITS);
  // Bill numbers have no gaps and no repeats: 1..VISITS for this hospital and year.
  const invoices = await search(server, `Invoice?issuer=Organization/${h.org.id}`);
  const numbers = invoices
    .map((inv) => (inv.identifier as Json[]).find((i) => i.system === `${SID}/bill-id`)?.value as string)
    .map((v) => Number(v.split('/').pop()))
    .sort((a, b) => a - b);
  expect(numbers).toEqual(Array.from({ length: VISITS }, (_, i) => i + 1));
});
