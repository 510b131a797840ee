/**
 * SMART state is shared by every worker (issue 11 point 9): the compiled server with 2 worker processes; each
 * request goes on a fresh connection, so the cluster spreads them over both workers. Tokens, registrations,
 * `jti` replay records and revocations work whichever worker takes each request.
 */
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { freePort } from '../../server/database/embedded';
import { TEST_AUTH, basicAuth, createTestDatabase, type Json, testAdminClient } from '../harness';
import { killIfRunning, start, waitReady, type Proc } from '../server/processes';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;

describeAuth('SMART flows on 2 workers', () => {
  let proc: Proc | undefined;
  let origin = '';
  const admin = testAdminClient();
  const adminBasic = basicAuth(admin.adminClientId, admin.adminClientSecret);

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    proc = start(['serve'], {
      DATABASE_URL: await createTestDatabase(),
      PORT: String(port),
      HOST: '127.0.0.1',
      AROGYA_WORKERS: '2',
      AROGYA_BASE_URL: `${origin}/fhir`,
      AROGYA_ADMIN_CLIENT_ID: admin.adminClientId,
      AROGYA_ADMIN_CLIENT_SECRET: admin.adminClientSecret,
      AROGYA_REVOCATION_SYNC_MS: '200',
      LOG_LEVEL: 'warn',
    });
    await waitReady(port, proc);
  });
  afterAll(async () => killIfRunning(proc));

  /** A request on its own connection (no keep-alive): the cluster hands each one to the next worker. */
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${origin}${path}`, { ...init, keepalive: false, headers: { connection: 'close', ...(init.headers as Record<string, string>) } });
  const tokenFor = async (basic: string, scope: string): Promise<string> => {
    const res = await call('/auth/token', {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
    const body = (await res.json()) as Json;
    expect(res.status).toBe(200);
    return body.access_token;
  };

  test('tokens issued by one worker are honoured by the other, and revocation reaches both', async () => {
    const tokens = await Promise.all(Array.from({ length: 6 }, () => tokenFor(adminBasic, 'system/*.cruds')));
    for (const t of tokens) {
      const statuses = await Promise.all(
        [0, 1, 2, 3].map(() => call('/fhir/Patient?_count=1', { headers: { authorization: `Bearer ${t}` } }).then((r) => r.status)),
      );
      expect(statuses).toEqual([200, 200, 200, 200]);
    }
    const revoke = await call('/auth/revoke', {
      method: 'POST',
      headers: { authorization: adminBasic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens[0] }).toString(),
    });
    expect(revoke.status).toBe(200);
    await new Promise((r) => setTimeout(r, 400)); // AROGYA_REVOCATION_SYNC_MS=200
    const after = await Promise.all(
      [0, 1, 2, 3].map(() => call('/fhir/Patient', { headers: { authorization: `Bearer ${tokens[0]}` } }).then((r) => r.status)),
    );
    expect(after).toEqual([401, 401, 401, 401]);
    const others = await Promise.all(
      [0, 1].map(() => call('/fhir/Patient', { headers: { authorization: `Bearer ${tokens[1]}` } }).then((r) => r.status)),
    );
    expect(others).toEqual([200, 200]);
  });

  test('a client registered on one worker authenticates on the other; a jti is accepted once across workers', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES384' };
    const reg = await call('/auth/register', {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor(adminBasic, 'system/*.cruds')}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [jwk] },
        scope: 'system/*.rs',
      }),
    });
    expect(reg.status).toBe(201);
    const clientId = ((await reg.json()) as Json).client_id as string;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${origin}/auth/token`)
      .setJti(crypto.randomUUID())
      .setExpirationTime(now + 120)
      .sign(privateKey);
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'system/Patient.rs',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString();
    // the same assertion four times at once, over both workers: exactly one token
    const statuses = await Promise.all(
      [0, 1, 2, 3].map(() =>
        call('/auth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form }).then((r) => r.status),
      ),
    );
    expect(statuses.sort()).toEqual([200, 401, 401, 401]);
  });
});
