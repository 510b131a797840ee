/**
 * The resource server's gate and the token endpoint's client_credentials grant with the bootstrap admin client
 * (DESIGN.md §1.1): discovery is public, the FHIR API needs a valid bearer token, and every bad token is a 401.
 */
import { SignJWT, decodeJwt, generateKeyPair } from 'jose';
import { TEST_AUTH, basicAuth, type Json, useServer } from '../harness';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;

describeAuth('bearer tokens and client_credentials', () => {
  const server = useServer();

  const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${server.origin}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });

  test('discovery and metadata are public; the FHIR API is not', async () => {
    const conf = await fetch(`${server.base}/.well-known/smart-configuration`);
    expect(conf.status).toBe(200);
    const body = (await conf.json()) as Json;
    expect(body.token_endpoint).toBe(`${server.origin}/auth/token`);
    expect(body.code_challenge_methods_supported).toEqual(['S256']);
    expect(body.capabilities).toContain('permission-v2');
    expect((await fetch(`${server.base}/metadata`)).status).toBe(200);
    const jwks = (await (await fetch(`${server.origin}/auth/jwks`)).json()) as { keys: Json[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys[0]).not.toHaveProperty('d');

    const open = await fetch(`${server.base}/Patient`);
    expect(open.status).toBe(401);
    expect(open.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(((await open.json()) as Json).resourceType).toBe('OperationOutcome');
  });

  test('the admin client gets a system token that reads and writes', async () => {
    const res = await token({ grant_type: 'client_credentials', scope: 'system/*.cruds' }, { authorization: server.adminAuth! });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'system/*.cruds' });
    expect(body.expires_in).toBeGreaterThan(0);
    const claims = decodeJwt(body.access_token);
    expect(claims.aud).toBe(server.base);
    expect(claims.iss).toBe(`${server.origin}/auth`);
    const created = await server.request('POST', '/Patient', {
      body: { resourceType: 'Patient', gender: 'female' },
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    expect(created.status).toBe(201);
    expect((await server.request('GET', `/Patient/${created.body.id}`)).status).toBe(200);
  });

  test('bad client credentials and bad grants are OAuth errors', async () => {
    const wrong = await token(
      { grant_type: 'client_credentials', scope: 'system/*.cruds' },
      { authorization: basicAuth('test-admin', 'not-the-secret') },
    );
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as Json).error).toBe('invalid_client');
    const unknown = await token({ grant_type: 'client_credentials', scope: 'system/*.cruds' }, { authorization: basicAuth('nobody', 'x') });
    expect(unknown.status).toBe(401);
    const noScope = await token({ grant_type: 'client_credentials' }, { authorization: server.adminAuth! });
    expect(((await noScope.json()) as Json).error).toBe('invalid_scope');
    const patientScope = await token({ grant_type: 'client_credentials', scope: 'patient/*.rs' }, { authorization: server.adminAuth! });
    expect(((await patientScope.json()) as Json).error).toBe('invalid_scope');
    const grant = await token({ grant_type: 'password', username: 'a', password: 'b' }, { authorization: server.adminAuth! });
    expect(((await grant.json()) as Json).error).toBe('unsupported_grant_type');
    const json = await fetch(`${server.origin}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: server.adminAuth! },
      body: '{}',
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as Json).error).toBe('invalid_request');
  });

  test('forged, alg none, tampered, expired and malformed tokens are refused with 401', async () => {
    const real = (await server.token())!;
    const claims = decodeJwt(real);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'x', typ: 'at+jwt' }).sign(privateKey);
    const [h, p, sig] = real.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const none = `${Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url')}.${p}.`;
    const encode = (c: Json) => Buffer.from(JSON.stringify(c)).toString('base64url');
    const tampered = `${h}.${encode({ ...claims, patient: 'x' })}.${sig}`;
    const expired = `${h}.${encode({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 })}.${sig}`;
    for (const bad of [forged, none, tampered, expired, 'not-a-jwt', `${real}x`]) {
      const res = await fetch(`${server.base}/Patient`, { headers: { authorization: `Bearer ${bad}` } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    }
    const basic = await fetch(`${server.base}/Patient`, { headers: { authorization: server.adminAuth! } });
    expect(basic.status).toBe(401);
  });

  test('CORS: a preflight from another origin is answered and responses expose their headers', async () => {
    const pre = await fetch(`${server.base}/Patient`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const res = await fetch(`${server.base}/Patient`, {
      headers: { origin: 'https://app.example', authorization: `Bearer ${await server.token()}` },
    });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('ETag');
  });
});
