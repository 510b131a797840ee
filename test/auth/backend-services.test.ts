/**
 * Client registration (RFC 7591), SMART Backend Services (client_credentials + private_key_jwt, RS384 and
 * ES384, JWKS inline or by URL), introspection (RFC 7662) and revocation (RFC 7009), against the real server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { TEST_AUTH, basicAuth, type Json, useServer } from '../harness';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;

describeAuth('registration, backend services, introspection and revocation', () => {
  const server = useServer();

  const form = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${server.origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(body).toString(),
    });

  async function register(metadata: Json, token?: string): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${server.origin}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token !== '' ? { authorization: `Bearer ${token ?? (await server.token())}` } : {}) },
      body: JSON.stringify(metadata),
    });
    return { status: res.status, body: (await res.json()) as Json };
  }

  async function keyPair(alg: 'RS384' | 'ES384'): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    return { privateKey, jwk: { ...(await exportJWK(publicKey)), alg, kid: `${alg}-key`, use: 'sig' } };
  }

  function assertion(clientId: string, key: CryptoKey, alg: string, over: { aud?: string; exp?: number; jti?: string; kid?: string } = {}) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg, kid: over.kid ?? `${alg}-key`, typ: 'JWT' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(over.aud ?? `${server.origin}/auth/token`)
      .setJti(over.jti ?? crypto.randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(over.exp ?? now + 240)
      .sign(key);
  }

  const backendToken = async (clientAssertion: string, scope = 'system/Patient.rs') =>
    form('/auth/token', {
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
    });

  test('registration needs an admin token and checks the metadata', async () => {
    expect((await register({ redirect_uris: ['https://app.example/cb'] }, '')).status).toBe(401);
    const bad = [
      [{ redirect_uris: ['not a url'] }, 'invalid_redirect_uri'],
      [{ grant_types: ['authorization_code'] }, 'invalid_redirect_uri'],
      [{ grant_types: ['password'], redirect_uris: ['https://a.example/cb'] }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }, 'invalid_client_metadata'],
      [{ redirect_uris: ['https://a.example/cb'], scope: 'system/*.rs' }, 'invalid_client_metadata'],
      [{ redirect_uris: ['https://a.example/cb#frag'] }, 'invalid_redirect_uri'],
    ] as const;
    for (const [metadata, error] of bad) {
      const r = await register(metadata as Json);
      expect([r.status, r.body.error]).toEqual([400, error]);
    }
    const pub = await register({ client_name: 'Chart viewer', redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
    expect(pub.status).toBe(201);
    expect(pub.body.client_id).toEqual(expect.any(String));
    expect(pub.body).not.toHaveProperty('client_secret');
    const conf = await register({ redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'refresh_token'] });
    expect(conf.status).toBe(201);
    expect(conf.body.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(conf.body.client_secret).toEqual(expect.any(String));

    // a registered client's token is not an admin token: it cannot register clients
    const sys = await register({ grant_types: ['client_credentials'], scope: 'system/*.rs' });
    const tok = (await (
      await form(
        '/auth/token',
        { grant_type: 'client_credentials', scope: 'system/*.rs' },
        { authorization: basicAuth(sys.body.client_id, sys.body.client_secret) },
      )
    ).json()) as Json;
    expect(tok.access_token).toBeDefined();
    expect((await register({ redirect_uris: ['https://x.example/cb'] }, tok.access_token)).status).toBe(403);
  });

  test('private_key_jwt with RS384 (inline JWKS) and ES384 (JWKS by URL)', async () => {
    const rs = await keyPair('RS384');
    const es = await keyPair('ES384');
    const jwksServer = http.createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [es.jwk] })));
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    try {
      const inline = await register({
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [rs.jwk] },
        scope: 'system/Patient.rs system/Observation.rs',
      });
      const byUrl = await register({
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`,
        scope: 'system/*.rs',
      });
      expect([inline.status, byUrl.status]).toEqual([201, 201]);

      const ok = await backendToken(await assertion(inline.body.client_id, rs.privateKey, 'RS384'));
      const body = (await ok.json()) as Json;
      expect(ok.status).toBe(200);
      expect(body.scope).toBe('system/Patient.rs');
      const read = await server.request('GET', '/Patient', { headers: { authorization: `Bearer ${body.access_token}` } });
      expect(read.status).toBe(200);

      const es384 = await backendToken(await assertion(byUrl.body.client_id, es.privateKey, 'ES384'), 'system/Observation.rs');
      expect(es384.status).toBe(200);

      // refused: replayed jti, exp too far ahead, wrong aud, wrong alg, wrong key, scope beyond the registration
      const jti = crypto.randomUUID();
      expect((await backendToken(await assertion(inline.body.client_id, rs.privateKey, 'RS384', { jti }))).status).toBe(200);
      const replay = await backendToken(await assertion(inline.body.client_id, rs.privateKey, 'RS384', { jti }));
      expect([replay.status, ((await replay.json()) as Json).error]).toEqual([401, 'invalid_client']);
      const far = await backendToken(await assertion(inline.body.client_id, rs.privateKey, 'RS384', { exp: Math.floor(Date.now() / 1000) + 600 }));
      expect(far.status).toBe(401);
      const aud = await backendToken(await assertion(inline.body.client_id, rs.privateKey, 'RS384', { aud: server.base }));
      expect(aud.status).toBe(401);
      const rs256 = await generateKeyPair('RS256');
      expect((await backendToken(await assertion(inline.body.client_id, rs256.privateKey, 'RS256'))).status).toBe(401);
      const other = await keyPair('RS384');
      expect((await backendToken(await assertion(inline.body.client_id, other.privateKey, 'RS384'))).status).toBe(401);
      const wide = await backendToken(await assertion(inline.body.client_id, rs.privateKey, 'RS384'), 'system/*.cruds');
      expect([wide.status, ((await wide.json()) as Json).error]).toEqual([400, 'invalid_scope']);
    } finally {
      jwksServer.close();
    }
  });

  test('introspection and revocation', async () => {
    const sys = await register({ grant_types: ['client_credentials'], scope: 'system/*.rs' });
    const auth = basicAuth(sys.body.client_id, sys.body.client_secret);
    const issued = (await (
      await form('/auth/token', { grant_type: 'client_credentials', scope: 'system/*.rs' }, { authorization: auth })
    ).json()) as Json;

    const anonymous = await form('/auth/introspect', { token: issued.access_token });
    expect(anonymous.status).toBe(401);
    const active = (await (await form('/auth/introspect', { token: issued.access_token }, { authorization: auth })).json()) as Json;
    expect(active).toMatchObject({ active: true, scope: 'system/*.rs', client_id: sys.body.client_id, token_type: 'Bearer' });
    const byAdmin = (await (
      await form('/auth/introspect', { token: issued.access_token }, { authorization: `Bearer ${await server.token()}` })
    ).json()) as Json;
    expect(byAdmin.active).toBe(true);
    expect(((await (await form('/auth/introspect', { token: 'garbage' }, { authorization: auth })).json()) as Json).active).toBe(false);

    // only the client it was issued to may revoke it
    const other = await register({ grant_types: ['client_credentials'], scope: 'system/*.rs' });
    const foreign = await form(
      '/auth/revoke',
      { token: issued.access_token },
      { authorization: basicAuth(other.body.client_id, other.body.client_secret) },
    );
    expect(foreign.status).toBe(400);
    expect((await server.request('GET', '/Patient', { headers: { authorization: `Bearer ${issued.access_token}` } })).status).toBe(200);

    expect((await form('/auth/revoke', { token: issued.access_token }, { authorization: auth })).status).toBe(200);
    expect((await form('/auth/revoke', { token: 'unknown' }, { authorization: auth })).status).toBe(200);
    const after = await server.request('GET', '/Patient', { headers: { authorization: `Bearer ${issued.access_token}` } });
    expect(after.status).toBe(401);
    expect(((await (await form('/auth/introspect', { token: issued.access_token }, { authorization: auth })).json()) as Json).active).toBe(false);
  });
});
