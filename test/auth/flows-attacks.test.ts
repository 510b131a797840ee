/**
 * Attacks on the authorization code flow (issue 11 "How it is checked"): PKCE missing or wrong, code replay,
 * redirect-URI mismatch, aud mismatch, unknown client, scope escalation on refresh, reused refresh tokens; launch
 * misuse, CSRF, sign-in brute force; and the pages' security headers. Every one is refused with a clear answer —
 * an error page when the redirect URI is not yet trusted, an OAuth error at the app's redirect URI or the token
 * endpoint otherwise — never a 500.
 */
import { TEST_AUTH, useServer } from '../harness';
import {
  Browser,
  addPatient,
  addUser,
  authorizeUrl,
  createLaunch,
  hiddenFields,
  pageKind,
  pkce,
  registerClient,
  tokenRequest,
  walkPages,
} from './flow-driver';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;
const REDIRECT = 'https://app.example.org/callback';
const PERSON = { username: 'dr.iyer', password: 'iyer password 123' };

describeAuth('attacks on the authorization code flow', () => {
  const server = useServer({ config: { signInLimitPerUser: 3, signInLimitPerAddress: 1000 } });
  let publicClient: string;
  let otherClient: string;
  let patient: string;

  beforeAll(async () => {
    patient = await addPatient(server, 'Das', 'Mira');
    await addUser(server, PERSON.username, PERSON.password, 'Practitioner/iyer');
    publicClient = (await registerClient(server, { redirectUris: [REDIRECT] })).clientId;
    otherClient = (await registerClient(server, { redirectUris: ['https://other.example.org/cb'] })).clientId;
  });

  const errorOf = (location: string | undefined): Record<string, string> => Object.fromEntries(new URL(location ?? 'http://x').searchParams);

  /** A full authorization: returns the code and the verifier. */
  async function code(scope = 'patient/*.rs offline_access', extra: Record<string, string> = {}): Promise<{ code: string; verifier: string }> {
    const { verifier, challenge } = pkce();
    const state = 'st-1';
    const back = await walkPages(
      new Browser(),
      authorizeUrl(server, {
        client_id: publicClient,
        redirect_uri: REDIRECT,
        scope,
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...extra,
      }),
      PERSON,
    );
    expect(back.status).toBe(302);
    const q = errorOf(back.location);
    expect(q.state).toBe(state);
    return { code: q.code, verifier };
  }

  const exchange = (c: { code: string; verifier?: string }, extra: Record<string, string> = {}) =>
    tokenRequest(server, {
      grant_type: 'authorization_code',
      code: c.code,
      redirect_uri: REDIRECT,
      client_id: publicClient,
      ...(c.verifier ? { code_verifier: c.verifier } : {}),
      ...extra,
    });

  test('before the redirect URI is trusted, errors are pages, never redirects', async () => {
    const b = new Browser();
    const { challenge } = pkce();
    const base = { redirect_uri: REDIRECT, scope: 'patient/*.rs', code_challenge: challenge, code_challenge_method: 'S256' };
    for (const params of [
      { ...base, client_id: 'no-such-client' },
      { ...base, client_id: publicClient, redirect_uri: 'https://evil.example.org/callback' },
      { ...base, client_id: publicClient, redirect_uri: `${REDIRECT}/` },
      { ...base, client_id: publicClient, redirect_uri: undefined },
      { ...base, client_id: undefined },
    ]) {
      const page = await b.get(authorizeUrl(server, params));
      expect(page.status).toBe(400);
      expect(page.location).toBeUndefined();
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(pageKind(page)).toBe('error');
    }
  });

  test('after it, bad requests go back to the app with error and state', async () => {
    const b = new Browser();
    const { challenge } = pkce();
    const good = {
      client_id: publicClient,
      redirect_uri: REDIRECT,
      scope: 'patient/*.rs',
      state: 'abc',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };
    const cases: [Record<string, string | undefined>, string][] = [
      [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ aud: 'https://evil.example.org/fhir' }, 'invalid_request'],
      [{ aud: undefined }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ scope: 'system/*.rs' }, 'invalid_scope'],
      [{ launch: 'not-a-launch' }, 'invalid_request'],
    ];
    for (const [change, error] of cases) {
      const page = await b.get(authorizeUrl(server, { ...good, ...change }));
      expect(page.status).toBe(302);
      expect(page.location!.startsWith(`${REDIRECT}?`)).toBe(true);
      expect(errorOf(page.location)).toMatchObject({ error, state: 'abc' });
    }
    // aud with a trailing slash is the same base
    expect(pageKind(await b.get(authorizeUrl(server, { ...good, aud: `${server.base}/` })))).toBe('sign-in');
  });

  test('POST /auth/authorize (authorize-post) starts an authorization like GET', async () => {
    const { challenge } = pkce();
    const url = new URL(
      authorizeUrl(server, {
        client_id: publicClient,
        redirect_uri: REDIRECT,
        scope: 'patient/*.rs',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    const b = new Browser();
    const page = await b.post(`${server.origin}/auth/authorize`, Object.fromEntries(url.searchParams));
    expect(page.status).toBe(200);
    expect(pageKind(page)).toBe('sign-in');
    // the same errors as GET: an unknown client is a page, a bad aud goes back to the app
    expect((await b.post(`${server.origin}/auth/authorize`, { ...Object.fromEntries(url.searchParams), client_id: 'nobody' })).status).toBe(400);
    const badAud = await b.post(`${server.origin}/auth/authorize`, { ...Object.fromEntries(url.searchParams), aud: 'https://elsewhere/fhir' });
    expect(errorOf(badAud.location)).toMatchObject({ error: 'invalid_request' });
  });

  test('PKCE: a missing or wrong verifier is refused, and burns the code', async () => {
    const c1 = await code();
    expect(await exchange({ code: c1.code })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await exchange(c1)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const c2 = await code();
    expect(await exchange({ code: c2.code, verifier: pkce().verifier })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  test('a code is for its client and redirect URI only', async () => {
    const c1 = await code();
    expect(await exchange(c1, { redirect_uri: 'https://evil.example.org/callback' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    const c2 = await code();
    expect(await exchange(c2, { client_id: otherClient })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await exchange(await code(), { client_id: 'no-such-client' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  test('a replayed code is refused and what it issued is revoked', async () => {
    const c = await code('user/Patient.rs offline_access');
    const first = await exchange(c);
    expect(first.status).toBe(200);
    const read = () => server.request('GET', `/Patient/${patient}`, { headers: { authorization: `Bearer ${first.body.access_token}` } });
    expect((await read()).status).toBe(200);
    const replay = await exchange(c);
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await read()).status).toBe(401);
    const refresh = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(refresh).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  test('a refresh may narrow the scope but never widen it; a reused refresh token revokes its family', async () => {
    const tokens = (await exchange(await code('patient/Patient.rs patient/Observation.rs offline_access'))).body;
    const wider = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      scope: 'patient/*.cruds offline_access',
    });
    expect(wider).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    // the refused widening did not use the token up
    const narrower = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, scope: 'patient/Patient.rs' });
    expect(narrower).toMatchObject({ status: 200, body: { scope: 'patient/Patient.rs' } });
    // the next refresh (no scope) gets the whole authorization back, not more
    const next = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: narrower.body.refresh_token });
    expect(next.body.scope.split(' ').sort()).toEqual(['offline_access', 'patient/Observation.rs', 'patient/Patient.rs']);
    // reuse of an old one: refused, and the live one and its access token die with the family
    const reuse = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: next.body.refresh_token })).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    expect((await server.request('GET', `/Patient/${patient}`, { headers: { authorization: `Bearer ${next.body.access_token}` } })).status).toBe(401);
    // another client cannot use a refresh token
    const mine = (await exchange(await code())).body;
    expect(await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: mine.refresh_token, client_id: otherClient })).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    // without offline_access or online_access there is no refresh token
    expect((await exchange(await code('patient/*.rs'))).body.refresh_token).toBeUndefined();
  });

  test('launches: used, expired and foreign launches end at the app with invalid_request', async () => {
    const { challenge } = pkce();
    const params = (launch: string, client = publicClient, redirect = REDIRECT) =>
      authorizeUrl(server, {
        client_id: client,
        redirect_uri: redirect,
        scope: 'launch patient/*.rs',
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        launch,
      });
    const make = async (body: Record<string, string>) => ((await (await createLaunch(server, body)).json()) as { launch: string }).launch;
    const b = new Browser();
    // bound to the public client: another client's use is refused and does not use it up
    const bound = await make({ patient, client_id: publicClient });
    const foreign = await b.get(params(bound, otherClient, 'https://other.example.org/cb'));
    expect(errorOf(foreign.location)).toMatchObject({ error: 'invalid_request', state: 's' });
    expect(pageKind(await b.get(params(bound)))).toBe('sign-in');
    expect(errorOf((await b.get(params(bound))).location)).toMatchObject({ error: 'invalid_request' });
    // expired
    const old = await make({ patient });
    await server.pool.query(`UPDATE auth_launch SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`);
    expect(errorOf((await b.get(params(old))).location)).toMatchObject({ error: 'invalid_request' });
    // bad bodies
    expect((await createLaunch(server, { encounter: 'e' })).status).toBe(400);
    expect((await createLaunch(server, { patient, client_id: 'no-such-client' })).status).toBe(400);
  });

  test('CSRF: a form without the browser cookie or with another token is refused', async () => {
    const { challenge } = pkce();
    const url = authorizeUrl(server, {
      client_id: publicClient,
      redirect_uri: REDIRECT,
      scope: 'patient/*.rs',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const victim = new Browser();
    const page = await victim.get(url);
    const fields = { ...hiddenFields(page.html), ...PERSON };
    // an attacker's page posting the fields from another browser (no cookie)
    const attacker = new Browser();
    const refused = await attacker.post(`${server.origin}/auth/authorize`, fields);
    expect(refused.status).toBe(403);
    // the right cookie but a wrong token in the form
    const wrong = await victim.post(`${server.origin}/auth/authorize`, { ...fields, csrf: 'forged' });
    expect(wrong.status).toBe(403);
    // an unknown request
    expect((await victim.post(`${server.origin}/auth/authorize`, { ...fields, request: 'nope' })).status).toBe(400);
    // the real form still works (consent or, remembered from an earlier test, straight back to the app)
    expect(['consent', 'redirect']).toContain(pageKind(await victim.submit(page, PERSON)));
  });

  test('sign-in is rate limited per username', async () => {
    const { challenge } = pkce();
    const b = new Browser();
    let page = await b.get(
      authorizeUrl(server, {
        client_id: publicClient,
        redirect_uri: REDIRECT,
        scope: 'patient/*.rs',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    await addUser(server, 'target', 'the right password', 'Practitioner/t');
    for (let i = 0; i < 3; i++) {
      page = await b.submit(page, { username: 'target', password: `guess ${i}` });
      expect(page.status).toBe(401);
      expect(page.html).toContain('role="alert"');
    }
    page = await b.submit(page, { username: 'target', password: 'the right password' });
    expect(page.status).toBe(429);
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(pageKind(page)).toBe('sign-in');
  });

  test('deny ends at the app with access_denied; a finished request cannot be replayed', async () => {
    const { challenge } = pkce();
    const b = new Browser();
    const url = authorizeUrl(server, {
      client_id: publicClient,
      redirect_uri: REDIRECT,
      scope: 'patient/*.rs openid',
      state: 'd',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const signIn = await b.get(url);
    const consent = await b.submit(signIn, PERSON);
    expect(pageKind(consent)).toBe('consent');
    expect(consent.html).toMatch(/Read and search all kinds of health records of the patient/);
    const denied = await b.submit(consent, { decision: 'deny' });
    expect(errorOf(denied.location)).toMatchObject({ error: 'access_denied', state: 'd' });
    expect((await b.submit(consent, { decision: 'allow' })).status).toBe(400);
  });

  test('pages carry strict security headers; their form-action names the redirect origin', async () => {
    const { challenge } = pkce();
    const page = await new Browser().get(
      authorizeUrl(server, {
        client_id: publicClient,
        redirect_uri: REDIRECT,
        scope: 'patient/*.rs',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self' https://app.example.org");
    expect(csp).not.toMatch(/script-src|unsafe-inline/);
    expect(csp).toContain("default-src 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.html).toContain('<html lang="en">');
    const cookie = page.headers.getSetCookie()[0];
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\/auth/);
  });

  test('POST /auth/users: admin only, checked fields', async () => {
    const post = (body: unknown, token?: string) =>
      fetch(`${server.origin}/auth/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    const admin = (await server.token())!;
    expect((await post({ username: 'n1', password: 'long enough pw', fhirUser: 'Practitioner/n1' })).status).toBe(401);
    expect((await post({ username: 'n1', password: 'short', fhirUser: 'Practitioner/n1' }, admin)).status).toBe(400);
    expect((await post({ username: 'n1', password: 'long enough pw', fhirUser: 'Device/n1' }, admin)).status).toBe(400);
    const ok = await post({ username: 'n1', password: 'long enough pw', fhirUser: 'Practitioner/n1' }, admin);
    expect(ok.status).toBe(201);
    const body = (await ok.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ username: 'n1', fhirUser: 'Practitioner/n1' });
    expect(body).not.toHaveProperty('password');
    expect((await post({ username: 'n1', password: 'long enough pw', fhirUser: 'Practitioner/n1' }, admin)).status).toBe(409);
    // a user's token is not an admin's
    const user = (await exchange(await code())).body.access_token;
    expect((await post({ username: 'n2', password: 'long enough pw', fhirUser: 'Practitioner/n2' }, user)).status).toBe(403);
  });
});
