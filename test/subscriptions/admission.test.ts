/**
 * Admission of R4 Subscriptions (server/fhir/subscription.ts via Repository.prepare): what a client may submit,
 * the criteria checked by the search grammar itself, the channels and the address guard at admission.
 */
import { loadConfig } from '../../server/config';
import { parseAllowList } from '../../server/events/subscriptions/address-guard';
import { startServer, TEST_AUTH, useServer, type Json } from '../harness';

const server = useServer({ config: {} });

function subscription(over: Json = {}, channel: Json = {}): Json {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'Dispensary screen: new prescriptions',
    criteria: 'MedicationRequest?status=active',
    channel: { type: 'rest-hook', endpoint: 'https://pharmacy.example.org/hook', payload: 'application/fhir+json', ...channel },
    ...over,
  };
}

function diagnostics(body: Json): string {
  return (body.issue ?? []).map((i: Json) => i.diagnostics).join(' | ');
}

test('requested becomes active; off stays off; the error text is the server’s', async () => {
  const created = await server.request('POST', '/Subscription', { body: subscription({ error: 'client text' }) });
  expect(created.status).toBe(201);
  expect(created.body.status).toBe('active');
  expect(created.body.error).toBeUndefined();
  const read = await server.request('GET', `/Subscription/${created.body.id}`);
  expect(read.body.status).toBe('active');

  const off = await server.request('PUT', `/Subscription/${created.body.id}`, { body: { ...subscription({ status: 'off' }), id: created.body.id } });
  expect(off.status).toBe(200);
  expect(off.body.status).toBe('off');
  // and requested again re-activates it
  const again = await server.request('PUT', `/Subscription/${created.body.id}`, { body: { ...subscription(), id: created.body.id } });
  expect(again.body.status).toBe('active');
});

test.each(['active', 'error'])('a client may not submit status %s (422)', async (status) => {
  const res = await server.request('POST', '/Subscription', { body: subscription({ status }) });
  expect(res.status).toBe(422);
  expect(diagnostics(res.body)).toContain("status 'requested'");
});

test('criteria are parsed by the search grammar: unknown parameter or type → 400', async () => {
  const unknown = await server.request('POST', '/Subscription', { body: subscription({ criteria: 'Observation?colour=blue' }) });
  expect(unknown.status).toBe(400);
  expect(diagnostics(unknown.body)).toMatch(/colour/);
  expect(diagnostics(unknown.body)).toMatch(/Subscription\.criteria/);
  const badType = await server.request('POST', '/Subscription', { body: subscription({ criteria: 'Bogus?x=1' }) });
  expect(badType.status).toBe(400);
  expect(diagnostics(badType.body)).toMatch(/'Bogus' is not/);
  const badValue = await server.request('POST', '/Subscription', { body: subscription({ criteria: 'Observation?date=notadate' }) });
  expect(badValue.status).toBe(400);
  const result = await server.request('POST', '/Subscription', { body: subscription({ criteria: 'Observation?_sort=date' }) });
  expect(result.status).toBe(400);
  // a chain and a bare type are fine
  const chain = await server.request('POST', '/Subscription', {
    body: subscription({ criteria: 'Observation?subject:Patient.identifier=https://healthid.abdm.gov.in|12345678901234' }),
  });
  expect(chain.status).toBe(201);
  const bare = await server.request('POST', '/Subscription', { body: subscription({ criteria: 'Encounter' }) });
  expect(bare.status).toBe(201);
});

test('channels: only rest-hook and websocket; rest-hook needs an http(s) endpoint, a JSON payload and Name: value headers', async () => {
  const email = await server.request('POST', '/Subscription', { body: subscription({}, { type: 'email', endpoint: 'mailto:a@b.org' }) });
  expect(email.status).toBe(422);
  expect(email.body.issue[0].code).toBe('not-supported');
  const ws = await server.request('POST', '/Subscription', {
    body: subscription({}, { type: 'websocket', endpoint: undefined, payload: undefined }),
  });
  expect(ws.status).toBe(201);
  expect(ws.body.status).toBe('active');

  const noEndpoint = await server.request('POST', '/Subscription', { body: subscription({}, { endpoint: undefined }) });
  expect(noEndpoint.status).toBe(422);
  const ftp = await server.request('POST', '/Subscription', { body: subscription({}, { endpoint: 'ftp://pharmacy.example.org/x' }) });
  expect(ftp.status).toBe(422);
  const creds = await server.request('POST', '/Subscription', { body: subscription({}, { endpoint: 'https://u:p@pharmacy.example.org/x' }) });
  expect(creds.status).toBe(422);
  const xml = await server.request('POST', '/Subscription', { body: subscription({}, { payload: 'application/fhir+xml' }) });
  expect(xml.status).toBe(422);
  expect(diagnostics(xml.body)).toMatch(/payload/);
  for (const payload of [undefined, 'application/json', 'application/fhir+json; fhirVersion=4.0']) {
    const ok = await server.request('POST', '/Subscription', { body: subscription({}, { payload }) });
    expect(ok.status).toBe(201);
  }
  const badHeader = await server.request('POST', '/Subscription', { body: subscription({}, { header: ['no colon here'] }) });
  expect(badHeader.status).toBe(422);
  const reserved = await server.request('POST', '/Subscription', { body: subscription({}, { header: ['Host: intranet'] }) });
  expect(reserved.status).toBe(422);
  const good = await server.request('POST', '/Subscription', { body: subscription({}, { header: ['Authorization: Bearer abc', 'X-Ward: 4B'] }) });
  expect(good.status).toBe(201);
});

test.each([
  'http://127.0.0.1:9000/hook',
  'http://10.1.2.3/hook',
  'http://172.20.0.5/hook',
  'http://192.168.1.10/hook',
  'http://169.254.169.254/latest/meta-data',
  'http://0.0.0.0/hook',
  'http://[::1]/hook',
  'http://[fd12:3456::1]/hook',
  'http://[fe80::1]/hook',
  'http://[::ffff:127.0.0.1]/hook',
  'http://[::ffff:a00:1]/hook',
])('an internal address is refused at admission: %s', async (endpoint) => {
  const res = await server.request('POST', '/Subscription', { body: subscription({}, { endpoint }) });
  expect(res.status).toBe(422);
  expect(diagnostics(res.body)).toMatch(/internal address/);
});

test('a batch entry goes through the same admission', async () => {
  const res = await server.request('POST', '/', {
    body: {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'POST', url: 'Subscription' }, resource: subscription({ status: 'active' }) },
        { request: { method: 'POST', url: 'Subscription' }, resource: subscription() },
      ],
    },
  });
  expect(res.status).toBe(200);
  expect(res.body.entry[0].response.status).toMatch(/^422/);
  expect(res.body.entry[1].response.status).toMatch(/^201/);
});

test('AROGYA_SUBSCRIPTION_ALLOW lets an operator allow an internal host or block', async () => {
  const allowing = await startServer({ subscriptionAllow: parseAllowList('10.20.0.0/16, 127.0.0.1, hooks.internal') });
  try {
    for (const endpoint of ['http://10.20.3.4/hook', 'http://127.0.0.1:9000/hook', 'http://hooks.internal/x']) {
      const ok = await allowing.request('POST', '/Subscription', { body: subscription({}, { endpoint }) });
      expect(ok.status).toBe(201);
    }
    const other = await allowing.request('POST', '/Subscription', { body: subscription({}, { endpoint: 'http://10.21.0.1/hook' }) });
    expect(other.status).toBe(422);
  } finally {
    await allowing.close();
  }
  expect(() => parseAllowList('10.0.0.0/99')).toThrow(/CIDR/);
  expect(() => loadConfig({ AROGYA_SUBSCRIPTION_ALLOW: 'not a host!' })).toThrow(/AROGYA_SUBSCRIPTION_ALLOW/);
});

test('the owner (actor and access) is recorded with the write and the index generation moves', async () => {
  const created = await server.request('POST', '/Subscription', { body: subscription() });
  const owner = async () =>
    (await server.pool.query<{ actor: string }>('SELECT actor::text FROM subscription_owner WHERE id = $1', [created.body.id])).rows[0];
  const row = await owner();
  expect(row).toBeDefined();
  const first = { actor: JSON.parse(row.actor) as Json };
  expect(first).toBeDefined();
  if (TEST_AUTH === 'smart') expect(first.actor).toMatchObject({ kind: 'client', clientId: 'test-admin' });
  else expect(first.actor.kind).toBe('anonymous');
  const { rows } = await server.pool.query<{ generation: string }>('SELECT generation FROM subscription_state');
  expect(Number(rows[0].generation)).toBeGreaterThan(0);
});

test('the CapabilityStatement says how Subscriptions work here', async () => {
  const cs = await server.request('GET', '/metadata');
  const sub = (cs.body.rest[0].resource as Json[]).find((r) => r.type === 'Subscription');
  expect(sub?.documentation).toMatch(/rest-hook/);
  expect(sub?.documentation).toMatch(/X-Arogya-Resource/);
});
