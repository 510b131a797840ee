/**
 * SMART App Launch 2.2 with the real SMART client library (`fhirclient`'s Node adapter) against the real server:
 * standalone and EHR launch, public and confidential clients, through the sign-in, patient picker and consent
 * pages (DESIGN.md §1.1), then requests with the token; id_token, refresh with rotation, remembered consent.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { TEST_AUTH, useServer } from '../harness';
import {
  Browser,
  addPatient,
  addUser,
  createLaunch,
  pageKind,
  patientChoices,
  registerClient,
  startSmartApp,
  tokenRequest,
  walkPages,
  type SmartApp,
} from './flow-driver';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;

describeAuth('SMART launches with fhirclient', () => {
  const server = useServer();
  const apps: SmartApp[] = [];
  let asha: string;
  let ravi: string;
  afterAll(async () => Promise.all(apps.map((a) => a.close())));

  beforeAll(async () => {
    asha = await addPatient(server, 'Rao', 'Asha', '91-1111-2222-3333');
    ravi = await addPatient(server, 'Kumar', 'Ravi');
    await addUser(server, 'dr.mehta', 'a practitioner password', 'Practitioner/mehta');
    await addUser(server, 'asha', 'a patient password', `Patient/${asha}`);
  });

  async function app(scope: string, confidential: boolean, standalone: boolean) {
    const a = await startSmartApp({ scope, ...(standalone ? { iss: server.base } : {}) });
    apps.push(a);
    const { clientId, secret } = await registerClient(server, {
      clientName: confidential ? 'Ward round (confidential)' : 'Ward round',
      redirectUris: [a.redirectUri],
      authMethod: confidential ? 'client_secret_basic' : 'none',
    });
    a.setClientId(clientId, secret);
    return { a, clientId };
  }

  /** Launches the app, walks the pages as `person`, completes fhirclient's ready(). */
  async function launch(a: SmartApp, params: Record<string, string>, person: Parameters<typeof walkPages>[2], seen: string[] = []) {
    const browser = new Browser();
    const start = await browser.get(a.launchUrl(params));
    expect(start.status).toBe(302);
    const back = await walkPages(browser, start.location!, person, seen);
    expect(back.status).toBe(302);
    expect(back.location!.startsWith(a.redirectUri)).toBe(true);
    const clientPromise = a.nextClient();
    const callback = await browser.get(back.location!);
    expect(callback.html).toBe('ready');
    return clientPromise;
  }

  test('standalone, public client: sign-in → picker → consent → token with patient, fhirUser, id_token; requests work', async () => {
    const { a, clientId } = await app('openid fhirUser launch/patient patient/*.rs offline_access', false, true);
    const seen: string[] = [];
    const client = await launch(a, {}, { username: 'dr.mehta', password: 'a practitioner password', patient: asha }, seen);
    expect(seen).toEqual(['sign-in', 'picker', 'consent', 'redirect']);
    const tr = client.state.tokenResponse;
    expect(tr).toMatchObject({ patient: asha, fhirUser: 'Practitioner/mehta', need_patient_banner: true, token_type: 'Bearer' });
    expect(tr.scope.split(' ').sort()).toEqual(['fhirUser', 'launch/patient', 'offline_access', 'openid', 'patient/*.rs']);
    expect(tr.smart_style_url).toBe(`${server.origin}/auth/smart-style.json`);
    expect((await fetch(tr.smart_style_url)).status).toBe(200);
    expect(tr.refresh_token).toEqual(expect.any(String));
    // id_token: signed by the server's keys, iss = issuer, aud = client, fhirUser claim
    const jwks = createRemoteJWKSet(new URL(`${server.origin}/auth/jwks`));
    const { payload } = await jwtVerify(tr.id_token, jwks, { issuer: `${server.origin}/auth`, audience: clientId });
    expect(payload.fhirUser).toBe(`${server.base}/Practitioner/mehta`);
    expect(payload.sub).toEqual(expect.any(String));
    expect(client.getFhirUser()).toBe('Practitioner/mehta');
    // requests with the token
    expect(client.patient.id).toBe(asha);
    const patient = await client.patient.read();
    expect(patient.id).toBe(asha);
    // refresh through fhirclient: rotation gives a new refresh token; the old one is then refused
    const oldRefresh = tr.refresh_token;
    await client.refresh();
    expect(client.state.tokenResponse.refresh_token).not.toBe(oldRefresh);
    expect(client.state.tokenResponse.patient).toBe(asha);
    expect((await client.request(`Patient/${asha}`)).id).toBe(asha);
    const reuse = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: oldRefresh, client_id: clientId });
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // …and the reuse revoked the family: the newest refresh token is dead too
    const after = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: client.state.tokenResponse.refresh_token,
      client_id: clientId,
    });
    expect(after).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  test('the picker searches by name and by NHID, and a remembered consent is not asked again', async () => {
    const { a } = await app('launch/patient patient/Patient.rs', false, true);
    const browser = new Browser();
    const start = await browser.get(a.launchUrl());
    let page = await browser.get(start.location!);
    page = await browser.submit(page, { username: 'dr.mehta', password: 'a practitioner password' });
    expect(page.html).toContain('name="q"');
    expect(page.html).toContain(asha);
    expect(page.html).toContain(ravi);
    const byName = await browser.submit(page, { q: 'kumar', action: 'search' });
    expect(byName.html).toContain(ravi);
    expect(byName.html).not.toContain(`value="${asha}"`);
    const byNhid = await browser.submit(byName, { q: '91-1111-2222-3333', action: 'search' });
    expect(byNhid.html).toContain(`value="${asha}"`);
    expect(byNhid.html).not.toContain(`value="${ravi}"`);
    const consent = await browser.submit(byNhid, { patient: asha, action: 'select' });
    const back = await browser.submit(consent, { decision: 'allow' });
    expect(back.status).toBe(302);
    await browser.get(back.location!);
    await a.nextClient();
    // the same user, client and scopes again: no consent page
    const seen: string[] = [];
    const client = await launch(a, {}, { username: 'dr.mehta', password: 'a practitioner password', patient: ravi }, seen);
    expect(seen).toEqual(['sign-in', 'picker', 'redirect']);
    expect(client.patient.id).toBe(ravi);
  });

  test("a RelatedPerson user's picker lists only the patients it is linked to", async () => {
    const rp = await server.request('POST', '/RelatedPerson', { body: { resourceType: 'RelatedPerson', patient: { reference: `Patient/${asha}` } } });
    await addUser(server, 'asha.mother', 'a relative password', `RelatedPerson/${rp.body.id}`);
    const { a } = await app('launch/patient patient/*.rs', false, true);
    const browser = new Browser();
    const start = await browser.get(a.launchUrl());
    const picker = await browser.submit(await browser.get(start.location!), { username: 'asha.mother', password: 'a relative password' });
    expect(patientChoices(picker.html)).toEqual([asha]);
    // another patient's id posted by hand is refused
    const forged = await browser.submit(picker, { patient: ravi, action: 'select' });
    expect(forged.status).toBe(400);
    expect(forged.html).toContain('role="alert"');
    const consent = await browser.submit(forged, { patient: asha, action: 'select' });
    expect(pageKind(consent)).toBe('consent');
  });

  test('a Patient user gets their own patient without the picker', async () => {
    const { a } = await app('openid fhirUser launch/patient patient/*.rs', false, true);
    const seen: string[] = [];
    const client = await launch(a, {}, { username: 'asha', password: 'a patient password' }, seen);
    expect(seen).toEqual(['sign-in', 'consent', 'redirect']);
    expect(client.state.tokenResponse).toMatchObject({ patient: asha, fhirUser: `Patient/${asha}` });
    expect((await client.patient.read()).id).toBe(asha);
  });

  test('EHR launch, confidential client: the launch context reaches the token response', async () => {
    const { a, clientId } = await app('launch openid fhirUser patient/*.rs', true, false);
    const enc = await server.request('POST', '/Encounter', {
      body: { resourceType: 'Encounter', status: 'in-progress', class: { code: 'AMB' }, subject: { reference: `Patient/${ravi}` } },
    });
    const created = await createLaunch(server, { patient: ravi, encounter: enc.body.id, client_id: clientId });
    expect(created.status).toBe(201);
    const { launch: launchId } = (await created.json()) as { launch: string };
    const seen: string[] = [];
    const client = await launch(a, { iss: server.base, launch: launchId }, { username: 'dr.mehta', password: 'a practitioner password' }, seen);
    expect(seen).toEqual(['sign-in', 'consent', 'redirect']);
    expect(client.state.tokenResponse).toMatchObject({ patient: ravi, encounter: enc.body.id, need_patient_banner: false });
    expect(client.state.clientSecret).toBeDefined();
    expect((await client.encounter.read()).id).toBe(enc.body.id);
    // the launch was used up: a second launch with it ends at the app with invalid_request
    const browser = new Browser();
    const again = await browser.get(a.launchUrl({ iss: server.base, launch: launchId }));
    const answer = await browser.get(again.location!);
    expect(answer.status).toBe(302);
    expect(new URL(answer.location!).searchParams.get('error')).toBe('invalid_request');
  });

  test('EHR launch by a signed-in user: a user token may record a launch, a non-user token may not', async () => {
    const { a, clientId } = await app('launch patient/*.rs', false, false);
    const client = await (async () => {
      const created = await createLaunch(server, { patient: asha });
      const { launch: launchId } = (await created.json()) as { launch: string };
      return launch(a, { iss: server.base, launch: launchId }, { username: 'dr.mehta', password: 'a practitioner password' });
    })();
    const userToken = client.state.tokenResponse.access_token;
    const byUser = await createLaunch(server, { patient: ravi, client_id: clientId }, userToken);
    expect(byUser.status).toBe(201);
    const bad = await createLaunch(server, { patient: 'no-such-patient' });
    expect(bad.status).toBe(400);
    const none = await fetch(`${server.origin}/auth/launch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"patient":"x"}',
    });
    expect(none.status).toBe(401);
  });
});
