/**
 * Subscriptions across server processes: two compiled servers (`node dist/server/main.js serve`) on one database,
 * each with its own in-memory index of active subscriptions. A subscription created on one process is matched for
 * writes taken by the other from the first write after it (the index generation check); every matching write,
 * whichever process took it, reaches the rest-hook receiver; websocket-channel matches are NOTIFYed on
 * SUBSCRIPTION_WS_CHANNEL with the contract's payload.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { freePort } from '../../server/database/embedded';
import { SUBSCRIPTION_WS_CHANNEL } from '../../server/events/subscriptions/ws-channel';
import { createTestDatabase, fhirClient, type Json } from '../harness';
import { killIfRunning, procAuth, start, waitReady, type Proc } from '../server/processes';

jest.setTimeout(240_000);

let databaseUrl = '';
let receiver: http.Server;
let hook = '';
const resources: string[] = [];
const procs: Proc[] = [];
const clients: ReturnType<typeof fhirClient>[] = [];
let listener: pg.Client;
const notified: Json[] = [];

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      resources.push(String(req.headers['x-arogya-resource']));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const proc = start(['serve'], {
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      AROGYA_WORKERS: '1',
      AROGYA_BASE_URL: `${origin}/fhir`,
      AROGYA_EVENT_POLL_MS: '100',
      AROGYA_POOL_SIZE: '6',
      AROGYA_SUBSCRIPTION_ALLOW: '127.0.0.1',
      AROGYA_SUBSCRIPTION_RETRY_LIMIT: '5',
      AROGYA_SUBSCRIPTION_RETRY_DELAY_SECONDS: '1',
      LOG_LEVEL: 'warn',
    });
    procs.push(proc);
    await waitReady(port, proc);
    clients.push(fhirClient(`${origin}/fhir`, procAuth(origin).token));
  }
  listener = new pg.Client({ connectionString: databaseUrl });
  await listener.connect();
  listener.on('notification', (m) => {
    if (m.channel === SUBSCRIPTION_WS_CHANNEL && m.payload) notified.push(JSON.parse(m.payload) as Json);
  });
  await listener.query(`LISTEN ${SUBSCRIPTION_WS_CHANNEL}`);
});

afterAll(async () => {
  await listener?.end();
  for (const p of procs) await killIfRunning(p);
  await new Promise((r) => receiver.close(r));
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a subscription made on one process is matched for writes on both; every match is delivered once per version', async () => {
  const [a, b] = clients;
  // both processes have matched (and so loaded their index) before the subscription exists
  await a.request('POST', '/Practitioner', { body: { resourceType: 'Practitioner', name: [{ family: 'Rao' }] } });
  await b.request('POST', '/Practitioner', { body: { resourceType: 'Practitioner', name: [{ family: 'Iyer' }] } });
  const sub = await a.request('POST', '/Subscription', {
    body: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'registry feed',
      criteria: 'Patient?gender=female',
      channel: { type: 'rest-hook', endpoint: hook },
    },
  });
  expect(sub.status).toBe(201);
  const expected: string[] = [];
  const other: string[] = [];
  for (let i = 0; i < 10; i++) {
    const client = clients[i % 2];
    const res = await client.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'female', name: [{ family: `P${i}` }] } });
    expect(res.status).toBe(201);
    expected.push(`Patient/${res.body.id}/_history/1`);
    const male = await client.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'male' } });
    other.push(male.body.id);
  }
  await until('every notification', () => expected.every((k) => resources.includes(k)));
  await new Promise((r) => setTimeout(r, 1000));
  expect(resources.filter((k) => k.startsWith('Patient/')).sort()).toEqual([...expected].sort());
  expect(resources.some((k) => other.some((id) => k.includes(id)))).toBe(false);
});

test('websocket-channel matches are NOTIFYed with the contract payload, whichever process took the write', async () => {
  const [a, b] = clients;
  const sub = await b.request('POST', '/Subscription', {
    body: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'ward screen',
      criteria: 'Encounter?status=in-progress',
      channel: { type: 'websocket' },
    },
  });
  expect(sub.status).toBe(201);
  const enc = await a.request('POST', '/Encounter', {
    body: { resourceType: 'Encounter', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' } },
  });
  expect(enc.status).toBe(201);
  const n = await until('the NOTIFY', () => notified.find((x) => x.id === enc.body.id));
  expect(n).toEqual({ subscription: sub.body.id, resourceType: 'Encounter', id: enc.body.id, versionId: 1 });
});
