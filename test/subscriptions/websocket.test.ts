/**
 * The websocket channel of Subscriptions (events/subscriptions/websocket.ts) on one server process, with a real
 * websocket client: `bind` with the upgrade's Authorization header, `bind-with-token` with a token from
 * `$get-ws-binding-token`, refusals (no authorisation, a token for another Subscription, forged, expired or foreign
 * tokens, scopes that do not cover Subscription, unknown or inactive Subscriptions), `ping` on a notification of
 * the channel, the LISTEN connection coming back after it is killed, and app close with sockets still open.
 * Notifications here are fired with pg_notify as the matcher does (ws-channel.ts); the end-to-end path (a write
 * → ping) is in websocket-processes.test.ts.
 */
import net from 'node:net';
import { SigningKeys } from '../../server/auth/keys';
import { authBaseOf } from '../../server/config';
import { WsBindingTokens } from '../../server/events/subscriptions/ws-binding-token';
import { SUBSCRIPTION_WS_CHANNEL } from '../../server/events/subscriptions/ws-channel';
import { TEST_AUTH, adminTokens, startServer, useServer, type Json } from '../harness';
import { WsClient, parameterValues, websocketSubscription, wsUrlOf } from './ws-client';

const server = useServer();
const smart = TEST_AUTH === 'smart';
const itSmart = smart ? it : it.skip;
const itOff = smart ? it.skip : it;

let wsUrl = '';
let sub: Json;
let other: Json;

async function headers(token?: string): Promise<Record<string, string>> {
  const t = token ?? (await server.token());
  return t ? { authorization: `Bearer ${t}` } : {};
}

async function notify(subscription: string, versionId = 1): Promise<void> {
  const payload = { subscription, resourceType: 'Observation', id: 'o1', versionId };
  await server.pool.query('SELECT pg_notify($1, $2)', [SUBSCRIPTION_WS_CHANNEL, JSON.stringify(payload)]);
}

async function bindingToken(id: string, token?: string): Promise<{ status: number; body: Json }> {
  const h = token ? { authorization: `Bearer ${token}` } : undefined;
  return server.request('GET', `Subscription/${id}/$get-ws-binding-token`, { headers: h });
}

beforeAll(async () => {
  wsUrl = wsUrlOf(server.base);
  sub = await websocketSubscription(server, 'Observation?code=http://loinc.org|8867-4');
  other = await websocketSubscription(server, 'Observation?code=http://loinc.org|8310-5');
});

test('the CapabilityStatement advertises the websocket endpoint and $get-ws-binding-token on Subscription', async () => {
  const cs = (await server.request('GET', 'metadata')).body;
  expect(cs.rest[0].extension).toContainEqual({ url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: wsUrl });
  const subscription = (cs.rest[0].resource as Json[]).find((r) => r.type === 'Subscription')!;
  expect(subscription.operation).toContainEqual({
    name: 'get-ws-binding-token',
    definition: 'https://arogya.dev/fhir/OperationDefinition/Subscription-get-ws-binding-token',
  });
});

test('bind with the upgrade Authorization header; pings for the bound Subscription only; several per socket; unbind', async () => {
  const c = await WsClient.open(wsUrl, await headers());
  try {
    expect(await c.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
    await notify(sub.id);
    expect(await c.next()).toBe(`ping ${sub.id}`);
    await notify(other.id);
    expect(await c.quiet(300)).toEqual([]);
    expect(await c.ask(`bind ${other.id}`)).toBe(`bound ${other.id}`);
    await notify(other.id, 2);
    await notify(sub.id, 2);
    expect([await c.next(), await c.next()].sort()).toEqual([`ping ${sub.id}`, `ping ${other.id}`].sort());
    expect(await c.ask(`unbind ${other.id}`)).toBe(`unbound ${other.id}`);
    await notify(other.id, 3);
    expect(await c.quiet(300)).toEqual([]);
  } finally {
    c.close();
  }
});

test('bind refusals: unknown, not active, not websocket, malformed commands', async () => {
  const off = await websocketSubscription(server, 'Observation?code=http://loinc.org|29463-7');
  expect((await server.request('PUT', `Subscription/${off.id}`, { body: { ...off, status: 'off' } })).status).toBe(200);
  const restHook = await server.request('POST', 'Subscription', {
    body: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'pharmacy system',
      criteria: 'MedicationRequest?status=active',
      channel: { type: 'rest-hook', endpoint: 'https://pharmacy.example.org/hook', payload: 'application/fhir+json' },
    },
  });
  expect(restHook.status).toBe(201);
  expect((await bindingToken(restHook.body.id)).status).toBe(400);
  const c = await WsClient.open(wsUrl, await headers());
  try {
    expect(await c.ask('bind no-such-subscription')).toBe('error no-such-subscription not found');
    expect(await c.ask(`bind ${off.id}`)).toBe(`error ${off.id} not active (status off)`);
    expect(await c.ask(`bind ${restHook.body.id}`)).toBe(`error ${restHook.body.id} not a websocket subscription (channel.type rest-hook)`);
    expect(await c.ask('bind')).toBe('error - bind takes one Subscription id');
    expect(await c.ask('bind a b')).toBe('error - bind takes one Subscription id');
    expect(await c.ask('bind ../Patient/x')).toBe('error - bind takes one Subscription id');
    expect(await c.ask('subscribe x')).toMatch(/^error - unknown command 'subscribe'/);
    c.socket.send(Buffer.from('bind x'), { binary: true });
    expect(await c.next()).toBe('error - send text frames');
    // the socket still works after the refusals
    expect(await c.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
  } finally {
    c.close();
  }
});

test('bind-with-token: a token from $get-ws-binding-token binds its Subscription on a socket without a header', async () => {
  const res = await bindingToken(sub.id);
  expect(res.status).toBe(200);
  expect(res.body.resourceType).toBe('Parameters');
  const [token] = parameterValues(res.body, 'token') as string[];
  const [expiration] = parameterValues(res.body, 'expiration') as string[];
  expect(parameterValues(res.body, 'subscription')).toEqual([sub.id]);
  expect(parameterValues(res.body, 'websocket-url')).toEqual([wsUrl]);
  const ttl = Date.parse(expiration) - Date.now();
  expect(ttl).toBeGreaterThan(50_000);
  expect(ttl).toBeLessThanOrEqual(60_000);

  const c = await WsClient.open(parameterValues(res.body, 'websocket-url')[0] as string);
  try {
    expect(await c.ask(`bind-with-token ${token}`)).toBe(`bound ${sub.id}`);
    await notify(sub.id, 7);
    expect(await c.next()).toBe(`ping ${sub.id}`);
    // a token for one Subscription does not bind another (with SMART on; with it off anyone may bind)
    if (smart) {
      expect(await c.ask(`bind ${other.id}`)).toMatch(new RegExp(`^error ${other.id} unauthorized`));
      await notify(other.id, 7);
      expect(await c.quiet(300)).toEqual([]);
    }
  } finally {
    c.close();
  }
});

test('the type-level operation: one token for several Subscriptions (GET ?id= and POST Parameters); none → 400', async () => {
  const get = await server.request('GET', `Subscription/$get-ws-binding-token?id=${sub.id}&id=${other.id}`);
  expect(get.status).toBe(200);
  expect(parameterValues(get.body, 'subscription')).toEqual([sub.id, other.id]);
  const post = await server.request('POST', 'Subscription/$get-ws-binding-token', {
    body: { resourceType: 'Parameters', parameter: [{ name: 'id', valueId: other.id }] },
  });
  expect(post.status).toBe(200);
  expect(parameterValues(post.body, 'subscription')).toEqual([other.id]);
  expect((await server.request('GET', 'Subscription/$get-ws-binding-token')).status).toBe(400);
  expect((await server.request('GET', 'Subscription/$get-ws-binding-token?id=nope')).status).toBe(404);
  expect((await server.request('GET', 'Subscription/$get-ws-binding-token?subscription=x')).status).toBe(400);

  const c = await WsClient.open(wsUrl);
  try {
    const [token] = parameterValues(get.body, 'token') as string[];
    c.send(`bind-with-token ${token}`);
    expect([await c.next(), await c.next()]).toEqual([`bound ${sub.id}`, `bound ${other.id}`]);
  } finally {
    c.close();
  }
});

test('invalid binding tokens bind nothing: garbage, tampered, an access token, expired, another server’s', async () => {
  const [token] = parameterValues((await bindingToken(other.id)).body, 'token') as string[];
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Json;
  const tampered = [header, Buffer.from(JSON.stringify({ ...claims, subscriptions: [sub.id] })).toString('base64url'), signature].join('.');
  // a token whose lifetime is over, signed with this server's own keys (as if issued a minute ago)
  const keys = new SigningKeys(server.pool, { rotationSeconds: server.config.signingKeyRotationSeconds, maxTokenSeconds: 3600 });
  const issuer = authBaseOf(server.config.baseUrl);
  const expired = (await new WsBindingTokens(keys, { issuer, websocketUrl: wsUrl, ttlSeconds: -60 }).issue([sub.id], null)).token;
  const foreignAudience = (await new WsBindingTokens(keys, { issuer, websocketUrl: 'ws://elsewhere/fhir/ws', ttlSeconds: 60 }).issue([sub.id], null))
    .token;
  const c = await WsClient.open(wsUrl);
  try {
    expect(await c.ask('bind-with-token not-a-token')).toBe('error - not a binding token');
    expect(await c.ask(`bind-with-token ${tampered}`)).toBe('error - the binding token is expired or not valid');
    expect(await c.ask(`bind-with-token ${expired}`)).toBe('error - the binding token is expired or not valid');
    expect(await c.ask(`bind-with-token ${foreignAudience}`)).toBe('error - the binding token is expired or not valid');
    const access = await server.token();
    if (access) expect(await c.ask(`bind-with-token ${access}`)).toBe('error - not a binding token');
    await notify(sub.id, 9);
    expect(await c.quiet(300)).toEqual([]);
  } finally {
    c.close();
  }
});

itSmart('SMART: no header and no token → unauthorized; a bad bearer refuses the upgrade (401)', async () => {
  const c = await WsClient.open(wsUrl);
  try {
    expect(await c.ask(`bind ${sub.id}`)).toBe(`error ${sub.id} unauthorized: send an Authorization header with the upgrade, or bind-with-token`);
  } finally {
    c.close();
  }
  await expect(WsClient.open(wsUrl, { authorization: 'Bearer forged.token.here' })).rejects.toThrow('upgrade refused: 401');
  await expect(WsClient.open(wsUrl, { authorization: 'Basic abc' })).rejects.toThrow('upgrade refused: 401');
});

itSmart('SMART: a token whose scopes do not cover Subscription can neither bind nor get a binding token', async () => {
  const patientsOnly = await adminTokens(server.origin, server.adminAuth!, 'system/Patient.rs')();
  expect((await bindingToken(sub.id, patientsOnly)).status).toBe(403);
  const c = await WsClient.open(wsUrl, await headers(patientsOnly));
  try {
    expect(await c.ask(`bind ${sub.id}`)).toBe(`error ${sub.id} forbidden: the token may not read this Subscription`);
  } finally {
    c.close();
  }
  // a read-only Subscription scope suffices
  const readSubs = await adminTokens(server.origin, server.adminAuth!, 'system/Subscription.rs')();
  expect((await bindingToken(sub.id, readSubs)).status).toBe(200);
});

itSmart('SMART: a binding token issued against a revoked access token binds nothing', async () => {
  const res = await fetch(`${server.origin}/auth/token`, {
    method: 'POST',
    headers: { authorization: server.adminAuth!, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Subscription.rs' }).toString(),
  });
  const access = ((await res.json()) as Json).access_token as string;
  const [token] = parameterValues((await bindingToken(sub.id, access)).body, 'token') as string[];
  const revoked = await fetch(`${server.origin}/auth/revoke`, {
    method: 'POST',
    headers: { authorization: server.adminAuth!, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: access }).toString(),
  });
  expect(revoked.status).toBe(200);
  const c = await WsClient.open(wsUrl);
  try {
    expect(await c.ask(`bind-with-token ${token}`)).toBe('error - the access token the binding token was issued against has been revoked');
  } finally {
    c.close();
  }
});

itSmart('SMART: once the upgrade’s access token is revoked, the socket binds nothing more', async () => {
  const res = await fetch(`${server.origin}/auth/token`, {
    method: 'POST',
    headers: { authorization: server.adminAuth!, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Subscription.rs' }).toString(),
  });
  const access = ((await res.json()) as Json).access_token as string;
  const c = await WsClient.open(wsUrl, await headers(access));
  try {
    expect(await c.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
    const revoked = await fetch(`${server.origin}/auth/revoke`, {
      method: 'POST',
      headers: { authorization: server.adminAuth!, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: access }).toString(),
    });
    expect(revoked.status).toBe(200);
    expect(await c.ask(`bind ${other.id}`)).toBe(`error ${other.id} unauthorized: the access token has been revoked`);
  } finally {
    c.close();
  }
});

itOff('AROGYA_AUTH=off: anyone binds without a header', async () => {
  const c = await WsClient.open(wsUrl);
  try {
    expect(await c.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
    await notify(sub.id, 11);
    expect(await c.next()).toBe(`ping ${sub.id}`);
  } finally {
    c.close();
  }
});

test('the LISTEN connection comes back after it is killed, and pings flow again', async () => {
  const c = await WsClient.open(wsUrl, await headers());
  try {
    expect(await c.ask(`bind ${sub.id}`)).toBe(`bound ${sub.id}`);
    const listeners = `SELECT pid FROM pg_stat_activity WHERE application_name = 'arogya-ws-listener' AND datname = current_database()`;
    const before = (await server.pool.query<{ pid: number }>(listeners)).rows.map((r) => r.pid);
    expect(before).toHaveLength(1);
    await server.pool.query('SELECT pg_terminate_backend($1)', [before[0]]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const now = (await server.pool.query<{ pid: number }>(listeners)).rows.map((r) => r.pid);
      if (now.length === 1 && now[0] !== before[0]) break;
      if (Date.now() > deadline) throw new Error('the listener did not reconnect');
      await new Promise((r) => setTimeout(r, 100));
    }
    // LISTEN follows the connection at once; a notification now reaches the socket
    await new Promise((r) => setTimeout(r, 200));
    await notify(sub.id, 12);
    expect(await c.next()).toBe(`ping ${sub.id}`);
  } finally {
    c.close();
  }
});

test('app close with open sockets: clients get 1001, one that never answers the close is dropped, close does not hang', async () => {
  const s = await startServer();
  const url = wsUrlOf(s.base);
  const t = await s.token();
  const h: Record<string, string> = t ? { authorization: `Bearer ${t}` } : {};
  const own = await websocketSubscription(s, 'Observation?code=http://loinc.org|8867-4');
  const a = await WsClient.open(url, h);
  expect(await a.ask(`bind ${own.id}`)).toBe(`bound ${own.id}`);
  const b = await WsClient.open(url, h);
  // a client that completes the upgrade and then never reads nor answers anything
  const port = new URL(s.base).port;
  const raw = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => {
    raw.once('connect', () => {
      raw.write(
        [
          'GET /fhir/ws HTTP/1.1',
          `Host: 127.0.0.1:${port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version: 13',
          ...(t ? [`Authorization: Bearer ${t}`] : []),
          '',
          '',
        ].join('\r\n'),
      );
      raw.once('data', (d: Buffer) => {
        expect(d.toString()).toMatch(/^HTTP\/1.1 101/);
        raw.on('data', () => undefined); // reads the close frame, never answers it
        resolve();
      });
    });
  });
  const rawClosed = new Promise((r) => raw.once('close', r));
  const started = Date.now();
  await s.close();
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(await a.closed).toEqual({ code: 1001, reason: 'server shutting down' });
  expect((await b.closed).code).toBe(1001);
  await rawClosed;
});

test('end to end, as a browser would: $get-ws-binding-token, bind-with-token, then a matching write pings', async () => {
  const glucose = await websocketSubscription(server, 'Observation?code=http://loinc.org|2339-0');
  const [token] = parameterValues((await bindingToken(glucose.id)).body, 'token') as string[];
  const c = await WsClient.open(wsUrl);
  try {
    expect(await c.ask(`bind-with-token ${token}`)).toBe(`bound ${glucose.id}`);
    const patient = await server.request('POST', 'Patient', {
      body: {
        resourceType: 'Patient',
        identifier: [{ system: 'https://healthid.abdm.gov.in', value: '12345678901234' }],
        name: [{ family: 'Iyer', given: ['Ramesh'] }],
        gender: 'male',
        birthDate: '1961-09-30',
      },
    });
    expect(patient.status).toBe(201);
    const lab = (code: string, display: string, value: number): Json => ({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code, display }] },
      subject: { reference: `Patient/${patient.body.id}` },
      effectiveDateTime: '2026-12-05T08:15:00+05:30',
      valueQuantity: { value, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    });
    expect((await server.request('POST', 'Observation', { body: lab('2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma', 212) })).status).toBe(
      201,
    );
    expect(await c.quiet(1_500)).toEqual([]);
    const created = await server.request('POST', 'Observation', { body: lab('2339-0', 'Glucose [Mass/volume] in Blood', 142) });
    expect(created.status).toBe(201);
    expect(await c.next(20_000)).toBe(`ping ${glucose.id}`);
    // an update of the matching Observation pings again
    expect(
      (
        await server.request('PUT', `Observation/${created.body.id}`, {
          body: { ...created.body, valueQuantity: { ...created.body.valueQuantity, value: 138 } },
        })
      ).status,
    ).toBe(200);
    expect(await c.next(20_000)).toBe(`ping ${glucose.id}`);
  } finally {
    c.close();
  }
});
