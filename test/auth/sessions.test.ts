/**
 * Sign-in sessions on the authorization pages (single sign-on across authorizations), OpenID Connect `prompt` and
 * `max_age`, and sign-out — through the real pages and, for the everyday case, the real SMART client library.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { TEST_AUTH, type TestServer, useServer } from '../harness';
import {
  Browser,
  addPatient,
  addUser,
  clientAuthorizeUrl,
  createLaunch,
  hiddenFields,
  pageKind,
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

/** The redirect's query, and the tokens its code buys (for the test client `clientId`). */
async function redeem(server: TestServer, clientId: string, back: Page, verifier: string) {
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

describeAuth('sign-in sessions (AROGYA_SIGNIN_SESSION_SECONDS=28800)', () => {
  const server = useServer({ config: { signInSessionSeconds: 8 * 3600 } });
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

  /** An authorization URL of the test client, with its PKCE verifier and state. */
  const url = (params: Record<string, string> = {}, scope = 'openid fhirUser user/*.rs') =>
    clientAuthorizeUrl(server, { clientId, redirectUri: REDIRECT }, scope, params);

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
    expect((await redeem(server, clientId, back, relogin.verifier)).body).toMatchObject({ patient: meera });
    // the browser is now Meera's: the next authorization, without prompt, is hers and shows no sign-in
    const next = url({}, 'openid fhirUser launch/patient patient/*.rs');
    const seen2: string[] = [];
    const back2 = await walkPages(browser, next.href, { username: 'x', password: 'x' }, seen2);
    expect(seen2).toEqual(['redirect']);
    const { body } = await redeem(server, clientId, back2, next.verifier);
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
    // …and an EHR launch it carried is not used up by that attempt
    const created = await createLaunch(server, { patient: meera, client_id: clientId });
    const { launch } = (await created.json()) as { launch: string };
    const silentLaunch = url({ prompt: 'none', launch }, 'launch openid fhirUser patient/*.rs');
    expect(new URL((await new Browser().get(silentLaunch.href)).location!).searchParams.get('error')).toBe('login_required');
    const withLaunch = url({ launch }, 'launch openid fhirUser patient/*.rs');
    const launched = await walkPages(new Browser(), withLaunch.href, DOCTOR);
    expect((await redeem(server, clientId, launched, withLaunch.verifier)).body).toMatchObject({ patient: meera });
    // signed in, consent remembered: a code straight away
    await walkPages(browser, url().href, DOCTOR);
    const silent = none();
    const { body } = await redeem(server, clientId, await browser.get(silent.href), silent.verifier);
    expect(body.access_token).toEqual(expect.any(String));
    // a scope not yet allowed: consent_required
    const more = none('openid user/Patient.rs');
    expect((await redeem(server, clientId, await browser.get(more.href), more.verifier)).q.get('error')).toBe('consent_required');
    // a practitioner's standalone launch/patient needs the picker: interaction_required
    const pick = none('launch/patient patient/*.rs');
    expect((await redeem(server, clientId, await browser.get(pick.href), pick.verifier)).q.get('error')).toBe('interaction_required');
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
    const { body } = await redeem(server, clientId, back, fresh.verifier);
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

describeAuth('sign-in sessions off (the default)', () => {
  const server = useServer();

  test('by default (AROGYA_SIGNIN_SESSION_SECONDS=0) no session cookie: every authorization signs in', async () => {
    await addUser(server, DOCTOR.username, DOCTOR.password, 'Practitioner/iyer');
    const { clientId } = await registerClient(server, { redirectUris: [REDIRECT], scope: 'user/*.rs' });
    const browser = new Browser();
    for (let i = 0; i < 2; i++) {
      const seen: string[] = [];
      const href = clientAuthorizeUrl(server, { clientId, redirectUri: REDIRECT }, 'user/*.rs').href;
      await walkPages(browser, href, DOCTOR, seen);
      expect(seen[0]).toBe('sign-in');
      expect(browser.cookies.has('arogya_session')).toBe(false);
    }
    // the account page still works (a 15-minute session of its own), and authorizations still ask to sign in
    const page = await browser.submit(await browser.get(`${server.origin}/auth/account`), DOCTOR);
    expect(page.headers.getSetCookie().find((c) => c.startsWith('arogya_session='))).toMatch(/Max-Age=900/);
    expect((await browser.get(`${server.origin}/auth/account`)).html).toContain('<h1>Your apps</h1>');
    const href = clientAuthorizeUrl(server, { clientId, redirectUri: REDIRECT }, 'user/*.rs').href;
    expect(pageKind(await browser.get(href))).toBe('sign-in');
  });
});

describeAuth('the account page: the apps a person allowed, and withdrawing them', () => {
  const server = useServer();
  let clientId: string;
  beforeAll(async () => {
    await addUser(server, DOCTOR.username, DOCTOR.password, 'Practitioner/iyer');
    ({ clientId } = await registerClient(server, {
      clientName: 'Discharge summary',
      redirectUris: [REDIRECT],
      scope: 'openid fhirUser offline_access user/*.rs',
    }));
  });

  test('sign in on the page, see the app and its scopes, withdraw: consent forgotten, its tokens revoked', async () => {
    // an authorization with offline_access: a remembered allow, a refresh token and an access token
    const app = new Browser();
    const first = clientAuthorizeUrl(server, { clientId, redirectUri: REDIRECT }, 'openid fhirUser offline_access user/*.rs');
    const t = await redeem(server, clientId, await walkPages(app, first.href, DOCTOR), first.verifier);
    expect(t.body.refresh_token).toEqual(expect.any(String));
    const bearer = { authorization: `Bearer ${t.body.access_token}` };
    expect((await fetch(`${server.base}/Patient`, { headers: bearer })).status).toBe(200);

    // another browser, not signed in: the account page is a sign-in form that posts to itself
    const me = new Browser();
    let page = await me.get(`${server.origin}/auth/account`);
    expect(pageKind(page)).toBe('sign-in');
    expect(page.html).toContain('action="/auth/account"');
    // a form posted without this browser's cookie is refused (nobody signs a victim in as themselves)
    const forged = await new Browser().post(`${server.origin}/auth/account`, { ...hiddenFields(page.html), ...DOCTOR });
    expect(forged.status).toBe(403);
    expect((await me.submit(page, { username: DOCTOR.username, password: 'wrong' })).status).toBe(401);
    page = await me.submit(await me.get(`${server.origin}/auth/account`), DOCTOR);
    expect([page.status, page.location]).toEqual([303, '/auth/account']);
    page = await me.get(`${server.origin}/auth/account`);
    expect(page.html).toContain('<h1>Your apps</h1>');
    expect(page.html).toContain('Discharge summary');
    expect(page.html).toContain('<code>offline_access</code>');

    // a withdraw without the session's CSRF token is refused and changes nothing
    const fields = hiddenFields(page.html);
    const bad = await me.post(`${server.origin}/auth/account`, { ...fields, csrf: 'guess', action: 'withdraw' });
    expect(bad.status).toBe(403);
    expect((await fetch(`${server.base}/Patient`, { headers: bearer })).status).toBe(200);

    const done = await me.submit(page, { action: 'withdraw' });
    expect(done.status).toBe(200);
    expect(done.html).toContain('Access for Discharge summary withdrawn.');
    expect(done.html).toContain('You have not allowed any app');
    // the refresh token and the access token issued with it are dead
    const refresh = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: clientId });
    expect(refresh).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await fetch(`${server.base}/Patient`, { headers: bearer })).status).toBe(401);
    // and the app must ask again: the consent page comes back
    const seen: string[] = [];
    await walkPages(
      app,
      clientAuthorizeUrl(server, { clientId, redirectUri: REDIRECT }, 'openid fhirUser offline_access user/*.rs').href,
      DOCTOR,
      seen,
    );
    expect(seen).toEqual(['sign-in', 'consent', 'redirect']);
    // the withdrawal is in the audit log
    await server.app.audit!.flush();
    const events = await server.request('GET', `/AuditEvent?altid=${clientId}&subtype=consent`);
    expect(events.body.entry.map((e: any) => e.resource.outcomeDesc)).toContain('the user withdrew access');
  });
});

describeAuth("the account page's sign-in is the authorization flow's password check", () => {
  const server = useServer({ config: { signInLimitPerUser: 3, signInLimitPerAddress: 1000 } });
  beforeAll(async () => {
    await addUser(server, DOCTOR.username, DOCTOR.password, 'Practitioner/iyer');
  });

  test('failed sign-ins count against the user: the fourth try is a 429 with Retry-After, even with the right password; each is audited', async () => {
    const me = new Browser();
    for (let i = 0; i < 3; i++) {
      const page = await me.submit(await me.get(`${server.origin}/auth/account`), { username: DOCTOR.username, password: `guess ${i}` });
      expect(page.status).toBe(401);
      expect(page.html).toContain('The username or the password is not right.');
    }
    const limited = await me.submit(await me.get(`${server.origin}/auth/account`), DOCTOR);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.html).toContain('Too many failed sign-ins');
    await server.app.audit!.flush();
    const events = await server.request('GET', '/AuditEvent?subtype=110122');
    const reasons = (events.body.entry ?? []).map((e: { resource: { outcomeDesc?: string } }) => e.resource.outcomeDesc);
    expect(reasons.filter((r: string | undefined) => r?.includes('wrong username or password'))).toHaveLength(3);
    expect(reasons.filter((r: string | undefined) => r?.includes('rate limited'))).toHaveLength(1);
  });
});
