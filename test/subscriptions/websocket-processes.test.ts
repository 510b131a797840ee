/**
 * The websocket channel across server processes: two `arogya serve` processes (compiled, dist/) on one database,
 * each LISTENing on the notification channel with its own connection. A notification reaches the sockets of both;
 * end to end, a write taken by one process that matches an active websocket Subscription pings the sockets bound
 * to it on the other, and a write that does not match pings nobody.
 */
import pg from 'pg';
import { freePort } from '../../server/database/embedded';
import { SUBSCRIPTION_WS_CHANNEL } from '../../server/events/subscriptions/ws-channel';
import { createTestDatabase, fhirClient, type Json } from '../harness';
import { killIfRunning, procAuth, start, waitReady, type Proc } from '../server/processes';
import { WsClient, websocketSubscription, wsUrlOf } from './ws-client';

jest.setTimeout(240_000);

interface Node {
  base: string;
  proc: Proc;
  token: () => Promise<string | undefined>;
  request: ReturnType<typeof fhirClient>['request'];
}

let databaseUrl = '';
const nodes: Node[] = [];
const sockets: WsClient[] = [];

async function startNode(): Promise<Node> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const proc = start(['serve'], {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    AROGYA_BASE_URL: `${origin}/fhir`,
    AROGYA_WORKERS: '1',
    AROGYA_EVENT_POLL_MS: '100',
    AROGYA_POOL_SIZE: '4',
    LOG_LEVEL: 'warn',
  });
  await waitReady(port, proc);
  const { token } = procAuth(origin);
  return { base: `${origin}/fhir`, proc, token, ...fhirClient(`${origin}/fhir`, token) };
}

async function socketOn(n: Node): Promise<WsClient> {
  const t = await n.token();
  const c = await WsClient.open(wsUrlOf(n.base), t ? { authorization: `Bearer ${t}` } : {});
  sockets.push(c);
  return c;
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  // one after the other: the first start creates pg-boss's schema
  nodes.push(await startNode());
  nodes.push(await startNode());
});

afterAll(async () => {
  for (const s of sockets) s.close();
  for (const n of nodes) {
    n.proc.child.kill('SIGTERM');
    // SIGKILL after 20 s; the timer is cleared once the process is gone, so it keeps nothing alive after the file
    const late = setTimeout(() => n.proc.child.kill('SIGKILL'), 20_000);
    await n.proc.exited;
    clearTimeout(late);
    await killIfRunning(n.proc);
  }
});

test('a notification reaches the sockets bound on every process', async () => {
  const [a, b] = nodes;
  const sub = await websocketSubscription(a, 'Observation?code=http://loinc.org|8867-4');
  const onA = await socketOn(a);
  const onB = await socketOn(b);
  expect(await onA.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
  expect(await onB.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const payload = { subscription: sub.id, resourceType: 'Observation', id: 'x', versionId: 1 };
    await client.query('SELECT pg_notify($1, $2)', [SUBSCRIPTION_WS_CHANNEL, JSON.stringify(payload)]);
  } finally {
    await client.end();
  }
  expect(await onA.next()).toBe(`ping ${sub.id}`);
  expect(await onB.next()).toBe(`ping ${sub.id}`);
});

test('end to end: a matching write on one process pings the socket on the other; a non-matching one pings nobody', async () => {
  const [a, b] = nodes;
  const heartRate = 'Observation?code=http://loinc.org|8867-4';
  const sub = await websocketSubscription(a, heartRate);
  const onB = await socketOn(b);
  expect(await onB.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
  const patient = await a.request('POST', 'Patient', {
    body: {
      resourceType: 'Patient',
      identifier: [{ system: 'https://healthid.abdm.gov.in', value: '12345678901234' }],
      name: [{ family: 'Kulkarni', given: ['Anjali'] }],
      gender: 'female',
      birthDate: '1986-04-12',
    },
  });
  expect(patient.status).toBe(201);
  const observation = (code: string, display: string, value: number, unit: string): Json => ({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code, display }] },
    subject: { reference: `Patient/${patient.body.id}` },
    effectiveDateTime: '2026-12-05T09:30:00+05:30',
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  });
  // body temperature: not what the Subscription asks for
  expect((await a.request('POST', 'Observation', { body: observation('8310-5', 'Body temperature', 37.2, 'Cel') })).status).toBe(201);
  expect(await onB.quiet(2_000)).toEqual([]);
  const hr = await a.request('POST', 'Observation', { body: observation('8867-4', 'Heart rate', 84, '/min') });
  expect(hr.status).toBe(201);
  expect(await onB.next(20_000)).toBe(`ping ${sub.id}`);
});

test('SIGTERM with bound sockets open: each client gets 1001 and the process exits 0 promptly', async () => {
  const b = nodes[1];
  const sub = await websocketSubscription(b, 'Observation?code=http://loinc.org|8867-4');
  const c = await socketOn(b);
  expect(await c.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
  const started = Date.now();
  b.proc.child.kill('SIGTERM');
  expect(await b.proc.exited).toBe(0);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(await c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
});
