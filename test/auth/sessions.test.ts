/**
 * Sign-in sessions on the authorization pages (single sign-on across authorizations), OpenID Connect `prompt` and
 * `max_age`, and sign-out — through the real pages and, for the everyday case, the real SMART client library.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { TEST_AUTH, startServer, useServer, type TestServer } from '../harness';
import {
  Browser,
  addPatient,
  addUser,
  authorizeUrl,
  pageKind,
  pkce,
  registerClient,
  startSmartApp,
  tokenRequest,
  walkPages,
  type Page,
  type SmartApp,
} from './flow-driver';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;

const DOCTOR = { username: 'dr.iyer', password: 'a practitioner password' };
const PATIENT_USER = { username: 'meera', password: 'a patient password' };
const REDIRECT = 'http://127.0.0.1:9/callback';

describeAuth('sign-in sessions', () => {
  const server = useServer();
  const apps: SmartApp[] = [];
  let meera: string;
  let clientId: string;
  afterAll(async () => Promise.all(apps.map((a) => a.close())));

  beforeAll(async () => {
    meera = await addPatient(server, 'Pillai', 'Meera');
    await addUser(server, DOCTOR.username, DOCTOR.password, 'Practitioner/iyer');
    await addUser(server, PATIENT_USER.username, PATIENT_USER.password, `Patient/${meera}`);
    ({ clientId } = await registerClient(server, { redirectUris: [REDIRECT], scope: 'openid fhirUser launch/patient patient/*.rs user/*.rs' }));
  });

  /** An authorization URL of the test client; `challenge` is the PKCE challenge of `verifier`. */
  function url(params: Record<string, string> = {}, scope = 'openid fhirUser user/*.rs') {
    const { verifier, challenge } = pkce();
    const state = crypto.randomUUID();
    return {
      verifier,
      state,
      href: authorizeUrl(server, {
        client_id: clientId,
        redirect_uri: REDIRECT,
        scope,
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...params,
      }),
    };
  }

  /** The redirect's query, and the tokens its code buys. */
  async function redeem(back: Page, verifier: string) {
    expect(back.status).toBe(302);
    const q = new URL(back.location!).searchParams;
    const code = q.get('code');
    if (!code) return { q, body: undefined };
    const t = await tokenRequest(server, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
    });
    expect(t.status).toBe(200);
    return { q, body: t.body };
  }

  async function authTime(idToken: string): Promise<number> {
    const jwks = createRemoteJWKSet(new URL(`${server.origin}/auth/jwks`));
    const { payload } = await jwtVerify(idToken, jwks, { issuer: `${server.origin}/auth`, audience: clientId });
    return payload.auth_time as number;
  }

  test('fhirclient: the second launch in the same browser skips the sign-in page (and the remembered consent)', async () => {
    const a = await startSmartApp({ scope: 'openid fhirUser user/*.rs', iss: server.base });
    apps.push(a);
    const reg = await registerClient(server, { clientName: 'Ward list', redirectUris: [a.redirectUri] });
    a.setClientId(reg.clientId);
    const browser = new Browser();
    const tokens: any[] = [];
    for (const expected of [['sign-in', 'consent', 'redirect'], ['redirect']]) {
      const start = await browser.get(a.launchUrl());
      const seen: string[] = [];
      const back = await walkPages(browser, start.location!, { ...DOCTOR }, seen);
      expect(seen).toEqual(expected);
      const next = a.nextClient();
      expect((await browser.get(back.location!)).html).toBe('ready');
      const client = await next;
      expect(client.getFhirUser()).toBe('Practitioner/iyer');
      expect((await client.request(`Patient/${meera}`)).id).toBe(meera); // the token works
      tokens.push(client.state.tokenResponse);
    }
    // both tokens stand on the one sign-in: the same auth_time
    const jwks = createRemoteJWKSet(new URL(`${server.origin}/auth/jwks`));
    const times = await Promise.all(tokens.map(async (t) => (await jwtVerify(t.id_token, jwks, { audience: reg.clientId })).payload.auth_time));
    expect(times[0]).toEqual(expect.any(Number));
    expect(times[1]).toBe(times[0]);
    // another browser has no session
    const other = new Browser();
    expect(pageKind(await other.get((await other.get(a.launchUrl())).location!))).toBe('sign-in');
  });

  test('the session cookie is HttpOnly, SameSite=Lax, scoped to /auth, and its value is not stored', async () => {
    const browser = new Browser();
    const first = url();
    let page = await browser.get(first.href);
    page = await browser.submit(page, DOCTOR);
    const cookie = page.headers.getSetCookie().find((c) => c.startsWith('arogya_session='));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/; Path=\/auth;/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(new RegExp(`; Max-Age=${8 * 3600}`));
    const value = browser.cookies.get('arogya_session')!;
    expect(value.length).toBeGreaterThanOrEqual(40);
    const { rows } = await server.pool.query('SELECT id_hash FROM auth_session');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r: { id_hash: string }) => r.id_hash)).not.toContain(value);
  });

  test('prompt=login asks again; signing in as someone else replaces the session', async () => {
    const browser = new Browser();
    const first = url();
    await walkPages(browser, first.href, DOCTOR);
    const relogin = url({ prompt: 'login' }, 'openid fhirUser launch/patient patient/*.rs');
    const seen: string[] = [];
    const back = await walkPages(browser, relogin.href, PATIENT_USER, seen);
    expect(seen).toEqual(['sign-in', 'consent', 'redirect']);
    expect((await redeem(back, relogin.verifier)).body).toMatchObject({ patient: meera });
    // the browser is now Meera's: the next authorization, without prompt, is hers and shows no sign-in
    const next = url({}, 'openid fhirUser launch/patient patient/*.rs');
    const seen2: string[] = [];
    const back2 = await walkPages(browser, next.href, { username: 'x', password: 'x' }, seen2);
    expect(seen2).toEqual(['redirect']);
    const { body } = await redeem(back2, next.verifier);
    expect(body).toMatchObject({ patient: meera });
    expect(JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString()).fhirUser).toBe(`${server.base}/Patient/${meera}`);
  });

  test('prompt=none: a code when nothing needs the person, else login_required, consent_required or interaction_required', async () => {
    const browser = new Browser();
    const none = (scope?: string) => url({ prompt: 'none' }, scope);
    // nobody signed in: no page, an error at the app (with its state)
    const anon = none();
    const first = await browser.get(anon.href);
    expect(first.status).toBe(302);
    const q = new URL(first.location!).searchParams;
    expect([q.get('error'), q.get('state')]).toEqual(['login_required', anon.state]);
    // signed in, consent remembered: a code straight away
    await walkPages(browser, url().href, DOCTOR);
    const silent = none();
    const { body } = await redeem(await browser.get(silent.href), silent.verifier);
    expect(body.access_token).toEqual(expect.any(String));
    // a scope not yet allowed: consent_required
    const more = none('openid user/Patient.rs');
    expect((await redeem(await browser.get(more.href), more.verifier)).q.get('error')).toBe('consent_required');
    // a practitioner's standalone launch/patient needs the picker: interaction_required
    const pick = none('launch/patient patient/*.rs');
    expect((await redeem(await browser.get(pick.href), pick.verifier)).q.get('error')).toBe('interaction_required');
  });

  test('prompt=consent shows the consent page even when remembered; max_age bounds how old the sign-in may be', async () => {
    const browser = new Browser();
    await walkPages(browser, url().href, DOCTOR);
    expect(pageKind(await browser.get(url({ prompt: 'consent' }).href))).toBe('consent');
    expect(pageKind(await browser.get(url({ max_age: '3600' }).href))).toBe('redirect');
    // max_age=0 is a fresh sign-in (OpenID Connect: as prompt=login); the id_token's auth_time is the new one
    const fresh = url({ max_age: '0' });
    const seen: string[] = [];
    const back = await walkPages(browser, fresh.href, DOCTOR, seen);
    expect(seen).toEqual(['sign-in', 'redirect']);
    const { body } = await redeem(back, fresh.verifier);
    expect(Math.abs((await authTime(body.id_token)) - Date.now() / 1000)).toBeLessThan(60);
  });

  test('a wrong prompt or max_age goes back to the app as invalid_request', async () => {
    const wrong: Record<string, string>[] = [{ prompt: 'sometimes' }, { prompt: 'none login' }, { max_age: 'soon' }, { max_age: '-1' }];
    for (const params of wrong) {
      const page = await new Browser().get(url(params).href);
      expect(page.status).toBe(302);
      expect(new URL(page.location!).searchParams.get('error')).toBe('invalid_request');
    }
  });

  test('sign-out: a page with a button, the POST ends the session, the old cookie value is dead', async () => {
    const browser = new Browser();
    await walkPages(browser, url().href, DOCTOR);
    const old = browser.cookies.get('arogya_session')!;
    const ask = await browser.get(`${server.origin}/auth/logout`);
    expect(ask.status).toBe(200);
    expect(ask.html).toContain(DOCTOR.username);
    expect(ask.html).toContain('<form method="post" action="/auth/logout">');
    expect(ask.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // the consent page says who is signed in and links to the sign-out page
    const consent = await browser.get(url({ prompt: 'consent' }).href);
    expect(consent.html).toContain(`Signed in as <strong>${DOCTOR.username}</strong>`);
    expect(consent.html).toContain('href="/auth/logout"');
    const out = await browser.post(`${server.origin}/auth/logout`, {});
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie().some((c) => /^arogya_session=;.*Max-Age=0/.test(c))).toBe(true);
    expect(browser.cookies.has('arogya_session')).toBe(false);
    expect(pageKind(await browser.get(url().href))).toBe('sign-in');
    // a copy of the old cookie signs nobody in
    const thief = new Browser();
    thief.cookies.set('arogya_session', old);
    expect(pageKind(await thief.get(url().href))).toBe('sign-in');
    expect((await thief.get(`${server.origin}/auth/logout`)).html).toContain('No one is signed in');
  });
});

describeAuth('sign-in sessions turned off', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ signInSessionSeconds: 0 });
  });
  afterAll(async () => server?.close());

  test('AROGYA_SIGNIN_SESSION_SECONDS=0: no session cookie, every authorization signs in', async () => {
    await addUser(server, DOCTOR.username, DOCTOR.password, 'Practitioner/iyer');
    const { clientId } = await registerClient(server, { redirectUris: [REDIRECT], scope: 'user/*.rs' });
    const browser = new Browser();
    for (let i = 0; i < 2; i++) {
      const seen: string[] = [];
      const href = authorizeUrl(server, {
        client_id: clientId,
        redirect_uri: REDIRECT,
        scope: 'user/*.rs',
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      });
      await walkPages(browser, href, DOCTOR, seen);
      expect(seen[0]).toBe('sign-in');
      expect(browser.cookies.has('arogya_session')).toBe(false);
    }
  });
});
