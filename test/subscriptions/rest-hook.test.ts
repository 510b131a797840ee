/**
 * rest-hook delivery end to end (server/events/subscriptions/): a real HTTP receiver on loopback (allowed with
 * AROGYA_SUBSCRIPTION_ALLOW=127.0.0.1), real writes through the API, the compressed retry schedule (2 retries,
 * 1 s doubling). Empty and fhir+json payloads, custom headers, the dedup header, deletes not notified, an owner
 * whose scopes are narrower than the data, a receiver down then back, retries exhausted → status error, and a host
 * name resolving to loopback refused at delivery.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAllowList } from '../../server/events/subscriptions/address-guard';
import { startServer, TEST_AUTH, type Json, type TestServer } from '../harness';

jest.setTimeout(90_000);

interface Hit {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

const hits: Hit[] = [];
/** Paths answered with this status instead of 200 (a receiver that is down). */
const failing = new Map<string, number>();
let receiver: http.Server;
let hook = '';
let port = 0;
let server: TestServer;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at: Date.now() });
      const status = [...failing].find(([p]) => req.url?.startsWith(p))?.[1] ?? 200;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  port = (receiver.address() as AddressInfo).port;
  hook = `http://127.0.0.1:${port}`;
  server = await startServer({
    eventPollMs: 50,
    subscriptionAllow: parseAllowList('127.0.0.1'),
    subscriptionRetryLimit: 2,
    subscriptionRetryDelaySeconds: 1,
    subscriptionTimeoutMs: 3000,
  });
});
afterAll(async () => {
  await server?.close();
  await new Promise((r) => receiver.close(r));
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hitsAt = (prefix: string) => hits.filter((h) => h.url.startsWith(prefix));

async function subscribe(criteria: string, path: string, channel: Json = {}, request = server.request.bind(server)): Promise<string> {
  const res = await request('POST', '/Subscription', {
    body: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'test receiver',
      criteria,
      channel: { type: 'rest-hook', endpoint: `${hook}${path}`, ...channel },
    },
  });
  expect(res.status).toBe(201);
  expect(res.body.status).toBe('active');
  return res.body.id as string;
}

function observation(code: string, category: string, extra: Json = {}): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
    code: { coding: [{ system: 'http://loinc.org', code }] },
    ...extra,
  };
}

test('empty payload: POST to the endpoint with no body, the custom headers and the dedup header; deletes are not notified', async () => {
  await subscribe('Observation?code=http://loinc.org|8867-4', '/empty', { header: ['Authorization: Bearer hook-secret', 'X-Ward: 4B'] });
  const heart = await server.request('POST', '/Observation', { body: observation('8867-4', 'vital-signs') });
  const other = await server.request('POST', '/Observation', { body: observation('8310-5', 'vital-signs') });
  expect(heart.status).toBe(201);
  expect(other.status).toBe(201);
  const first = await until('the notification', () => hitsAt('/empty')[0]);
  expect(first.method).toBe('POST');
  expect(first.url).toBe('/empty');
  expect(first.body).toBe('');
  expect(first.headers.authorization).toBe('Bearer hook-secret');
  expect(first.headers['x-ward']).toBe('4B');
  expect(first.headers['x-arogya-resource']).toBe(`Observation/${heart.body.id}/_history/1`);
  expect(first.headers['x-arogya-event']).toBe('create');
  // an update notifies with its own version; a delete does not
  const updated = await server.request('PUT', `/Observation/${heart.body.id}`, {
    body: { ...observation('8867-4', 'vital-signs'), id: heart.body.id, status: 'amended' },
  });
  expect(updated.status).toBe(200);
  const second = await until('the update notification', () => hitsAt('/empty')[1]);
  expect(second.headers['x-arogya-resource']).toBe(`Observation/${heart.body.id}/_history/2`);
  expect((await server.request('DELETE', `/Observation/${heart.body.id}`)).status).toBe(204);
  // a later matching write is notified; by then the delete's event has long been handled
  const later = await server.request('POST', '/Observation', { body: observation('8867-4', 'vital-signs') });
  await until('the later notification', () =>
    hitsAt('/empty').find((h) => h.headers['x-arogya-resource'] === `Observation/${later.body.id}/_history/1`),
  );
  await new Promise((r) => setTimeout(r, 500));
  expect(hitsAt('/empty').map((h) => h.headers['x-arogya-resource'])).toEqual([
    `Observation/${heart.body.id}/_history/1`,
    `Observation/${heart.body.id}/_history/2`,
    `Observation/${later.body.id}/_history/1`,
  ]);
  expect(hits.some((h) => String(h.headers['x-arogya-resource']).includes(other.body.id))).toBe(false);
});

test('fhir+json payload: PUT {endpoint}/{type}/{id} with the version as stored (meta.versionId)', async () => {
  await subscribe('Patient?identifier=https://healthid.abdm.gov.in|12345678901234', '/full/fhir', { payload: 'application/fhir+json' });
  const patient = await server.request('POST', '/Patient', {
    body: {
      resourceType: 'Patient',
      identifier: [{ system: 'https://healthid.abdm.gov.in', value: '12345678901234' }],
      name: [{ family: 'Sharma', given: ['Asha'] }],
      birthDate: '1984-03-02',
    },
  });
  expect(patient.status).toBe(201);
  const hit = await until('the notification', () => hitsAt('/full/fhir')[0]);
  expect(hit.method).toBe('PUT');
  expect(hit.url).toBe(`/full/fhir/Patient/${patient.body.id}`);
  expect(hit.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const body = JSON.parse(hit.body) as Json;
  expect(body).toMatchObject({ resourceType: 'Patient', id: patient.body.id, meta: { versionId: '1' }, name: [{ family: 'Sharma' }] });
  expect(hit.headers['x-arogya-resource']).toBe(`Patient/${patient.body.id}/_history/1`);
});

(TEST_AUTH === 'smart' ? test : test.skip)('an owner with lab-only scopes is never sent other data', async () => {
  const token = (
    await server.app.authServices!.tokens.issueAccessToken({
      clientId: 'lab-feed',
      sub: 'lab-feed',
      scope: 'system/Observation.rs?category=laboratory system/Subscription.cruds',
    })
  ).access_token;
  const asLab = (method: string, p: string, init: { body?: unknown } = {}) =>
    server.request(method, p, { ...init, headers: { authorization: `Bearer ${token}` } });
  // the subscription asks for every Observation; its owner may only read laboratory ones
  await subscribe('Observation', '/lab/empty', {}, asLab);
  await subscribe('Observation', '/lab/full', { payload: 'application/fhir+json' }, asLab);
  const vital = await server.request('POST', '/Observation', { body: observation('8310-5', 'vital-signs') });
  const lab = await server.request('POST', '/Observation', { body: observation('2339-0', 'laboratory') });
  await until('the lab notifications', () => hitsAt('/lab/empty').length >= 1 && hitsAt('/lab/full').length >= 1);
  // the admin's later vital sign is not sent either (and the lab one once per channel)
  const vital2 = await server.request('POST', '/Observation', { body: observation('8867-4', 'vital-signs') });
  const lab2 = await server.request('POST', '/Observation', { body: observation('2345-7', 'laboratory') });
  await until('the second lab notifications', () => hitsAt('/lab/empty').length >= 2 && hitsAt('/lab/full').length >= 2);
  await new Promise((r) => setTimeout(r, 1000));
  const all = [...hitsAt('/lab/empty'), ...hitsAt('/lab/full')];
  const text = all.map((h) => `${h.url} ${h.headers['x-arogya-resource']} ${h.body}`).join('\n');
  expect(text).not.toContain(vital.body.id);
  expect(text).not.toContain(vital2.body.id);
  expect(hitsAt('/lab/empty').map((h) => h.headers['x-arogya-resource'])).toEqual([
    `Observation/${lab.body.id}/_history/1`,
    `Observation/${lab2.body.id}/_history/1`,
  ]);
  expect(hitsAt('/lab/full').map((h) => h.url)).toEqual([`/lab/full/Observation/${lab.body.id}`, `/lab/full/Observation/${lab2.body.id}`]);
});

(TEST_AUTH === 'smart' ? test : test.skip)(
  'another client updating a subscription becomes its owner: its narrower access bounds what is sent',
  async () => {
    const id = await subscribe('Observation?status=preliminary', '/takeover');
    const token = (
      await server.app.authServices!.tokens.issueAccessToken({
        clientId: 'lab-editor',
        sub: 'lab-editor',
        scope: 'system/Observation.rs?category=laboratory system/Subscription.cruds',
      })
    ).access_token;
    const current = (await server.request('GET', `/Subscription/${id}`)).body as Json;
    const put = await server.request('PUT', `/Subscription/${id}`, {
      body: { ...current, status: 'requested', meta: undefined, channel: { ...current.channel, header: ['X-Edited-By: lab'] } },
      headers: { authorization: `Bearer ${token}` },
    });
    expect(put.status).toBe(200);
    const vital = await server.request('POST', '/Observation', { body: { ...observation('8310-5', 'vital-signs'), status: 'preliminary' } });
    const lab = await server.request('POST', '/Observation', { body: { ...observation('2339-0', 'laboratory'), status: 'preliminary' } });
    const hit = await until('the lab notification', () => hitsAt('/takeover')[0]);
    expect(hit.headers['x-arogya-resource']).toBe(`Observation/${lab.body.id}/_history/1`);
    expect(hit.headers['x-edited-by']).toBe('lab');
    await new Promise((r) => setTimeout(r, 1000));
    expect(hitsAt('/takeover').some((h) => String(h.headers['x-arogya-resource']).includes(vital.body.id))).toBe(false);
  },
);

test('a receiver that is down is retried with backoff and gets the notification when it comes back', async () => {
  failing.set('/flaky', 503);
  await subscribe('Encounter?status=finished', '/flaky');
  const enc = await server.request('POST', '/Encounter', {
    body: { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' } },
  });
  expect(enc.status).toBe(201);
  await until('two failed attempts', () => hitsAt('/flaky').length >= 2);
  failing.delete('/flaky');
  await until('the successful attempt', () => hitsAt('/flaky').length >= 3);
  const times = hitsAt('/flaky').map((h) => h.at);
  expect(times[1] - times[0]).toBeGreaterThanOrEqual(900); // 1 s, jittered up to 2 s
  expect(times[2] - times[1]).toBeGreaterThanOrEqual(1900); // 2 s, jittered up to 4 s
  await new Promise((r) => setTimeout(r, 1500));
  expect(hitsAt('/flaky')).toHaveLength(3);
  expect(new Set(hitsAt('/flaky').map((h) => h.headers['x-arogya-resource']))).toEqual(new Set([`Encounter/${enc.body.id}/_history/1`]));
});

async function subscriptionStatus(id: string): Promise<Json> {
  return (await server.request('GET', `/Subscription/${id}`)).body as Json;
}

test('retries exhausted: the Subscription is set to error with the reason, and nothing more is sent', async () => {
  failing.set('/broken', 500);
  const id = await subscribe('Location?name=Dispensary', '/broken');
  const loc = await server.request('POST', '/Location', { body: { resourceType: 'Location', status: 'active', name: 'Dispensary' } });
  expect(loc.status).toBe(201);
  const sub = await until('status error', async () => {
    const s = await subscriptionStatus(id);
    return s.status === 'error' ? s : undefined;
  });
  expect(sub.error).toMatch(/HTTP 500/);
  expect(sub.error).toMatch(/3 attempts/);
  expect(hitsAt('/broken')).toHaveLength(3);
  // an errored subscription is no longer matched
  await server.request('POST', '/Location', { body: { resourceType: 'Location', status: 'active', name: 'Dispensary' } });
  await new Promise((r) => setTimeout(r, 1500));
  expect(hitsAt('/broken')).toHaveLength(3);
  // the client re-activates it with requested
  const again = await server.request('PUT', `/Subscription/${id}`, { body: { ...sub, status: 'requested', error: undefined, meta: undefined } });
  expect(again.body.status).toBe('active');
  expect(again.body.error).toBeUndefined();
});

test('a host name that resolves to loopback is refused at delivery (only 127.0.0.1 as written is allowed)', async () => {
  const res = await server.request('POST', '/Subscription', {
    body: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'rebinding attempt',
      criteria: 'Device?status=active',
      channel: { type: 'rest-hook', endpoint: `http://localhost:${port}/rebind` },
    },
  });
  expect(res.status).toBe(201); // names are checked when resolved
  await server.request('POST', '/Device', { body: { resourceType: 'Device', status: 'active' } });
  const sub = await until('status error', async () => {
    const s = await subscriptionStatus(res.body.id);
    return s.status === 'error' ? s : undefined;
  });
  expect(sub.error).toMatch(/localhost resolves to .*internal address/);
  expect(hitsAt('/rebind')).toHaveLength(0);
});

test('reference, _id and system-less token criteria match as the search does (the prefilter keeps nothing out wrongly)', async () => {
  const patient = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: [{ family: 'Menon' }] } });
  await subscribe(`Observation?subject=Patient/${patient.body.id}`, '/ref');
  await subscribe(`Observation?patient=${patient.body.id}&code=29463-7`, '/both');
  await subscribe('Observation?_id=obs-fixed-1,obs-fixed-2', '/id');
  const weight = { ...observation('29463-7', 'vital-signs'), subject: { reference: `Patient/${patient.body.id}` } };
  const mine = await server.request('POST', '/Observation', { body: weight });
  const notMine = await server.request('POST', '/Observation', { body: observation('29463-7', 'vital-signs') });
  const fixed = await server.request('PUT', '/Observation/obs-fixed-2', { body: { ...observation('8310-5', 'vital-signs'), id: 'obs-fixed-2' } });
  expect([mine.status, notMine.status, fixed.status]).toEqual([201, 201, 201]);
  await until('the three notifications', () => hitsAt('/ref').length && hitsAt('/both').length && hitsAt('/id').length);
  await new Promise((r) => setTimeout(r, 1000));
  expect(hitsAt('/ref').map((h) => h.headers['x-arogya-resource'])).toEqual([`Observation/${mine.body.id}/_history/1`]);
  expect(hitsAt('/both').map((h) => h.headers['x-arogya-resource'])).toEqual([`Observation/${mine.body.id}/_history/1`]);
  expect(hitsAt('/id').map((h) => h.headers['x-arogya-resource'])).toEqual(['Observation/obs-fixed-2/_history/1']);
});

test('a write of a type no active subscription is on queues no job; the first write after a new subscription of that type is notified', async () => {
  const jobsFor = async (id: string) =>
    Number(
      (
        await server.pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM pgboss.job WHERE name = 'arogya-event-subscriptions' AND data->>'id' = $1`,
          [id],
        )
      ).rows[0].n,
    );
  const before = await server.request('POST', '/Medication', { body: { resourceType: 'Medication', status: 'active' } });
  expect(before.status).toBe(201);
  // the outbox row is handed on (dispatched) without a job for the subscriptions consumer
  await until('the outbox emptied', async () => {
    const { rows } = await server.pool.query(`SELECT 1 FROM event_outbox WHERE resource_id = $1`, [before.body.id]);
    return rows.length === 0;
  });
  expect(await jobsFor(before.body.id)).toBe(0);
  // a new subscription on Medication is seen by the very next write's dispatch (the index is brought up to date)
  await subscribe('Medication?status=active', '/medication');
  const after = await server.request('POST', '/Medication', { body: { resourceType: 'Medication', status: 'active' } });
  const hit = await until('the notification', () => hitsAt('/medication')[0]);
  expect(hit.headers['x-arogya-resource']).toBe(`Medication/${after.body.id}/_history/1`);
  expect(await jobsFor(after.body.id)).toBe(1);
});
