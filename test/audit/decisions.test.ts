/**
 * Authorization decisions as AuditEvents (issue 11 point 10): tokens issued and refused at /auth/token, bearer tokens
 * refused at the FHIR base, requests refused for want of a scope; and the audit scope that reading AuditEvents takes.
 */
import { SignJWT, generateKeyPair } from 'jose';
import { Browser, addUser, clientAuthorizeUrl, pageKind, registerClient } from '../auth/flow-driver';
import { TEST_AUTH, basicAuth, type Json, useServer } from '../harness';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;

describeAuth('authorization decisions and the audit scope', () => {
  const server = useServer({ config: { audit: true, signInSessionSeconds: 3600 } });

  /** AuditEvents (newest first) matching `query`, read with the admin token after the buffer is written. */
  async function audit(query: string): Promise<Json[]> {
    await server.app.audit!.flush();
    const res = await server.request('GET', `/AuditEvent?${query}`);
    expect(res.status).toBe(200);
    return (res.body.entry ?? []).map((e: Json) => e.resource);
  }

  const tokenRequest = (form: Record<string, string>, authorization?: string) =>
    fetch(`${server.origin}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
      body: new URLSearchParams(form).toString(),
    });

  /** A confidential client allowed `scope` through client_credentials, and a token for it. */
  async function systemToken(scope: string): Promise<{ clientId: string; token: string }> {
    const { client, secret } = await server.app.authServices!.clients.create({
      authMethod: 'client_secret_basic',
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scope,
      admin: false,
    });
    const res = await tokenRequest({ grant_type: 'client_credentials', scope }, basicAuth(client.clientId, secret!));
    expect(res.status).toBe(200);
    return { clientId: client.clientId, token: ((await res.json()) as Json).access_token };
  }

  const get = (path: string, token: string) => server.request('GET', path, { headers: { authorization: `Bearer ${token}` } });

  test('a token issued at /auth/token is a successful User Authentication event naming the client and scopes', async () => {
    const { clientId } = await systemToken('system/Patient.rs');
    const [e] = await audit(`agent=${clientId}&type=110114`);
    expect(e.type).toEqual({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' });
    expect(e.subtype[0].code).toBe('token');
    expect(e.outcome).toBe('0');
    const client = e.agent.find((a: Json) => a.who?.identifier?.value === clientId);
    expect(client.requestor).toBe(true);
    expect(client.policy[0]).toMatch(/^urn:uuid:/); // the issued token's jti
    const security = e.entity.find((x: Json) => x.role?.code === '13');
    expect(security.detail).toEqual([
      { type: 'grant_type', valueString: 'client_credentials' },
      { type: 'scope', valueString: 'system/Patient.rs' },
    ]);
  });

  test('a refused token request is a failure naming the client it claimed to be and why', async () => {
    const res = await tokenRequest({ grant_type: 'client_credentials', scope: 'system/*.rs' }, basicAuth('test-admin', 'not-the-secret-at-all'));
    expect(res.status).toBe(401);
    const [e] = await audit('altid=test-admin&outcome=4&subtype=token');
    expect(e.outcomeDesc).toBe('invalid_client');
    expect(e.entity.find((x: Json) => x.role?.code === '13').detail).toContainEqual({ type: 'scope', valueString: 'system/*.rs' });
  });

  test('a forged bearer token at the FHIR base is refused and recorded as a failure', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ scope: 'system/*.cruds', client_id: 'mallory' })
      .setProtectedHeader({ alg: 'RS256', kid: 'not-ours' })
      .setSubject('mallory')
      .setAudience(server.base)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const requestId = `forged-${Date.now()}`;
    const res = await server.request('GET', '/Patient?name=x', { headers: { authorization: `Bearer ${forged}`, 'x-request-id': requestId } });
    expect(res.status).toBe(401);
    await server.app.audit!.flush();
    const { rows } = await server.pool.query('SELECT id::text FROM audit_event WHERE request_id = $1', [requestId]);
    expect(rows).toHaveLength(1);
    const e = (await server.request('GET', `/AuditEvent/${rows[0].id}`)).body;
    expect([e.type.code, e.subtype[0].code, e.outcome, e.outcomeDesc]).toEqual(['rest', 'search-type', '4', 'no valid bearer token; HTTP 401']);
    expect(e.agent.find((a: Json) => a.requestor).network.address).toMatch(/127\.0\.0\.1/);
    expect(e.agent.some((a: Json) => a.who?.identifier?.value === 'mallory')).toBe(false); // an unverified claim is not an agent
  });

  test('reading AuditEvents takes an audit scope: 403 without one, and the refusal is itself audited', async () => {
    const clinical = await systemToken('system/Patient.rs');
    const refused = await get('/AuditEvent', clinical.token);
    expect(refused.status).toBe(403);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    const anyId = (await audit('_count=1'))[0].id;
    expect((await get(`/AuditEvent/${anyId}`, clinical.token)).status).toBe(403);

    const [e] = await audit(`agent=${clinical.clientId}&outcome=4`);
    expect([e.subtype[0].code, e.outcomeDesc]).toEqual(['read', 'refused: outside the scopes granted; HTTP 403']);

    const auditor = await systemToken('system/AuditEvent.rs');
    const allowed = await get(`/AuditEvent?agent=${clinical.clientId}`, auditor.token);
    expect(allowed.status).toBe(200);
    expect(allowed.body.entry.length).toBeGreaterThan(1);
  });

  test('user and patient wildcards do not reach the audit log; user/AuditEvent.rs does', async () => {
    const tokens = server.app.authServices!.tokens;
    const issue = async (scope: string, extra: { patient?: string; fhirUser?: string } = {}) =>
      (await tokens.issueAccessToken({ clientId: 'some-app', sub: 'user-1', scope, fhirUser: 'Practitioner/p1', ...extra })).access_token;
    expect((await get('/AuditEvent', await issue('user/*.rs'))).status).toBe(403);
    expect((await get('/AuditEvent', await issue('patient/*.rs', { patient: 'p' }))).status).toBe(403);
    expect((await get('/AuditEvent', await issue('patient/AuditEvent.rs', { patient: 'p' }))).status).toBe(403);
    expect((await get('/AuditEvent', await issue('user/AuditEvent.rs'))).status).toBe(200);
    expect((await get('/AuditEvent', await issue('user/AuditEvent.read'))).status).toBe(200);
  });

  test("a user's read names the user, the app and the token's patient", async () => {
    const patient = (await server.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'other' } })).body.id;
    const { access_token } = await server.app.authServices!.tokens.issueAccessToken({
      clientId: 'chart-app',
      sub: 'user-7',
      scope: 'launch/patient patient/*.rs',
      patient,
      fhirUser: 'Practitioner/p7',
    });
    expect((await get(`/Patient/${patient}`, access_token)).status).toBe(200);
    const [e] = await audit(`agent=Practitioner/p7&patient=${patient}`);
    const user = e.agent.find((a: Json) => a.who?.reference === 'Practitioner/p7');
    expect(user.requestor).toBe(true);
    expect(user.policy[0]).toMatch(/^urn:uuid:/);
    const app = e.agent.find((a: Json) => a.who?.identifier?.value === 'chart-app');
    expect(app.requestor).toBe(false);
    expect(e.entity.filter((x: Json) => x.role?.code === '1').map((x: Json) => x.what.reference)).toEqual([`Patient/${patient}`]);
    expect((await audit(`agent=chart-app&_count=1`))[0].id).toBe(e.id);
  });

  test('sign-ins that fail and succeed, and a consent denied, are User Authentication events', async () => {
    const redirectUri = 'http://127.0.0.1:9/callback';
    const { clientId } = await registerClient(server, { redirectUris: [redirectUri], scope: 'openid fhirUser user/*.rs' });
    await addUser(server, 'dr.audit', 'a long practitioner password', 'Practitioner/audit-doc');
    const url = clientAuthorizeUrl(server, { clientId, redirectUri }, 'openid fhirUser user/*.rs').href;
    const browser = new Browser();
    let page = await browser.get(url);
    expect(pageKind(page)).toBe('sign-in');
    page = await browser.submit(page, { username: 'dr.audit', password: 'not the password' });
    expect([page.status, pageKind(page)]).toEqual([401, 'sign-in']);
    page = await browser.submit(page, { username: 'dr.audit', password: 'a long practitioner password' });
    expect(pageKind(page)).toBe('consent');
    page = await browser.submit(page, { decision: 'deny' });
    expect(page.location).toMatch(/error=access_denied/);

    const events = await audit(`altid=${clientId}&type=110114&_sort=date`);
    const summary = events.map((e) => [e.subtype[0].code, e.outcome, e.outcomeDesc ?? '']);
    expect(summary).toEqual([
      ['110122', '4', 'wrong username or password'],
      ['110122', '0', ''],
      ['consent', '4', 'the user denied access'],
    ]);
    expect(events[0].meta.profile).toEqual(['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Login']);
    expect(events[0].agent.some((a: Json) => a.who?.identifier?.value === 'dr.audit')).toBe(true); // the name given
    expect(events[1].agent.some((a: Json) => a.who?.reference === 'Practitioner/audit-doc')).toBe(true);
    for (const secret of ['not the password', 'a long practitioner password']) expect(JSON.stringify(events)).not.toContain(secret);

    // the sign-in left a session in this browser; signing out of it is a Logout event of the user
    expect((await browser.post(`${server.origin}/auth/logout`, {})).status).toBe(200);
    const [logout] = await audit('type=110114&subtype=110123&agent=Practitioner/audit-doc');
    expect(logout.subtype[0]).toMatchObject({ code: '110123', display: 'Logout' });
    expect(logout.outcome).toBe('0');
    expect(logout.meta.profile).toEqual(['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Logout']);
  });
});
