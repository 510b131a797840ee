/**
 * Issue 11 point 9: every step of a person's authorization may be answered by a different worker process. Two
 * app instances (each with its own pool and in-process caches, as two workers have) serve the same database and
 * base URL; the pages, the code exchange, the refresh and the replay checks alternate between them.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app';
import { freePort } from '../../server/database/embedded';
import { createPool, type Pool } from '../../server/database/pool';
import { TEST_AUTH, useServer } from '../harness';
import { Browser, addPatient, addUser, authorizeUrl, pageKind, pkce, registerClient, tokenRequest } from './flow-driver';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;
const REDIRECT = 'https://app.example.org/callback';

describeAuth('the flows across two workers', () => {
  const server = useServer();
  let other: { app: FastifyInstance; pool: Pool; origin: string };

  beforeAll(async () => {
    const pool = createPool(server.databaseUrl, 4);
    const app = await buildApp(server.config, pool, { logger: false, jobs: false });
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    other = { app, pool, origin: `http://127.0.0.1:${port}` };
  });
  afterAll(async () => {
    await other?.app.close();
    await other?.pool.end();
  });

  test('authorize on one, sign in and consent on the other, exchange and refresh alternating', async () => {
    const patient = await addPatient(server, 'Nair', 'Lata');
    await addUser(server, 'dr.nair', 'nair password 1', 'Practitioner/nair');
    const { clientId } = await registerClient(server, { redirectUris: [REDIRECT] });
    const { verifier, challenge } = pkce();
    const b = new Browser();
    const onOther = (url: string) => url.replace(server.origin, other.origin);

    const signIn = await b.get(
      authorizeUrl(server, {
        client_id: clientId,
        redirect_uri: REDIRECT,
        scope: 'launch/patient patient/*.rs offline_access',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(pageKind(signIn)).toBe('sign-in');
    const picker = await b.submit({ ...signIn, url: onOther(signIn.url) }, { username: 'dr.nair', password: 'nair password 1' });
    expect(pageKind(picker)).toBe('picker');
    const consent = await b.submit({ ...picker, url: signIn.url }, { patient });
    expect(pageKind(consent)).toBe('consent');
    const back = await b.submit({ ...consent, url: onOther(consent.url) }, { decision: 'allow' });
    const code = new URL(back.location!).searchParams.get('code')!;

    const exchange = (origin: string) =>
      fetch(`${origin}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: REDIRECT,
          client_id: clientId,
        }).toString(),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const first = await exchange(other.origin);
    expect(first).toMatchObject({ status: 200, body: { patient } });
    // the replay reaches the other worker: refused, and the token the first exchange issued is revoked everywhere
    expect(await exchange(server.origin)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const readOn = (origin: string, token: string) => fetch(`${origin}/fhir/Patient/${patient}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await readOn(server.origin, first.body.access_token)).status).toBe(401);

    // a new authorization (consent remembered), its refresh rotated on one worker and reused on the other
    const again = await b.get(
      authorizeUrl(server, {
        client_id: clientId,
        redirect_uri: REDIRECT,
        scope: 'launch/patient patient/*.rs offline_access',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    const picker2 = await b.submit({ ...again, url: onOther(again.url) }, { username: 'dr.nair', password: 'nair password 1' });
    const back2 = await b.submit(picker2, { patient });
    expect(pageKind(back2)).toBe('redirect');
    const tokens = (
      await tokenRequest(server, {
        grant_type: 'authorization_code',
        code: new URL(back2.location!).searchParams.get('code')!,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: clientId,
      })
    ).body;
    const refresh = (origin: string, token: string) =>
      fetch(`${origin}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const rotated = await refresh(other.origin, tokens.refresh_token);
    expect(rotated.status).toBe(200);
    expect((await readOn(server.origin, rotated.body.access_token)).status).toBe(200);
    expect(await refresh(server.origin, tokens.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(other.origin, rotated.body.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});
