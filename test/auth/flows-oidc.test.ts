/**
 * Sign-in through an upstream OpenID Connect provider (issue 11 point 2): a real `oidc-provider` on loopback, not
 * a mock. An identity signs in as the local user recorded with its issuer + subject, or — only with
 * AROGYA_OIDC_MATCH_EMAIL=on — as the user whose username is its *verified* e-mail; an unknown identity gets a
 * refusal page and no user is created.
 */
import http from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from '../../server/database/embedded';
import { TEST_AUTH, startServer, type TestServer } from '../harness';
import { Browser, addPatient, authorizeUrl, pageKind, pkce, registerClient, type Page } from './flow-driver';

const describeAuth = TEST_AUTH === 'smart' ? describe : describe.skip;
const REDIRECT = 'https://app.example.org/callback';

/** Follows the provider's dev login and consent forms (any login is accepted; it becomes the subject). */
async function throughProvider(browser: Browser, start: Page, login: string): Promise<Page> {
  let page = start;
  for (let i = 0; i < 12; i++) {
    if (page.location) {
      const next = new URL(page.location, page.url).toString();
      // back at our server: done
      if (next.includes('/auth/oidc/callback')) return browser.get(next);
      page = await browser.get(next);
      continue;
    }
    const form = /<form[^>]*action="([^"]+)"[^>]*method="post"/.exec(page.html);
    if (!form) throw new Error(`provider page without a form (${page.status}): ${page.html.slice(0, 400)}`);
    const fields: Record<string, string> = {};
    for (const m of page.html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)) fields[m[1]] = m[2];
    if (page.html.includes('name="login"')) Object.assign(fields, { login, password: 'any' });
    page = await browser.post(new URL(form[1], page.url).toString(), fields);
  }
  throw new Error('the provider never sent the browser back');
}

describeAuth('upstream OpenID Connect sign-in', () => {
  let providerServer: http.Server;
  let issuer: string;
  let plain: TestServer;
  let byEmail: TestServer;
  const clients = new Map<TestServer, string>();

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    const oidc = { oidcIssuer: issuer, oidcClientId: 'arogya', oidcClientSecret: 'a-long-upstream-client-secret', oidcName: 'Hospital ID' };
    plain = await startServer(oidc);
    byEmail = await startServer({ ...oidc, oidcMatchEmail: true });
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'arogya',
          client_secret: 'a-long-upstream-client-secret',
          redirect_uris: [plain, byEmail].map((s) => `${s.origin}/auth/oidc/callback`),
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      // the subject is the login; "…-unverified" logins have an unverified e-mail
      findAccount: async (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: async () => ({ sub, email: `${sub.replace(/-unverified$/, '')}@example.org`, email_verified: !sub.endsWith('-unverified') }),
      }),
      claims: { openid: ['sub'], email: ['email', 'email_verified'] },
      features: { devInteractions: { enabled: true } },
      cookies: { keys: ['a-test-cookie-signing-key'] },
    });
    providerServer = http.createServer(provider.callback());
    await new Promise<void>((resolve) => providerServer.listen(port, '127.0.0.1', resolve));
    for (const s of [plain, byEmail]) clients.set(s, (await registerClient(s, { redirectUris: [REDIRECT] })).clientId);
  });
  afterAll(async () => {
    await Promise.all([plain?.close(), byEmail?.close(), new Promise((resolve) => providerServer?.close(resolve))]);
  });

  async function users(server: TestServer, body: Record<string, string>): Promise<void> {
    const res = await fetch(`${server.origin}/auth/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await server.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
  }

  /** Our sign-in page → "Sign in with Hospital ID" → the provider as `login` → back at our server. */
  async function upstreamSignIn(server: TestServer, login: string): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser();
    const { challenge } = pkce();
    const signIn = await browser.get(
      authorizeUrl(server, {
        client_id: clients.get(server),
        redirect_uri: REDIRECT,
        scope: 'openid fhirUser patient/*.rs',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(signIn.html).toContain('Sign in with Hospital ID');
    expect(signIn.headers.get('content-security-policy')).toContain(`form-action 'self' https://app.example.org ${issuer}`);
    const toProvider = await browser.submit(signIn, { action: 'upstream' });
    expect(toProvider.status).toBe(303);
    expect(toProvider.location!.startsWith(issuer)).toBe(true);
    return { browser, page: await throughProvider(browser, toProvider, login) };
  }

  test('an identity linked to a user signs in as that user', async () => {
    await users(plain, {
      username: 'alice',
      password: 'alice password 1',
      fhirUser: 'Practitioner/alice',
      oidcIssuer: issuer,
      oidcSubject: 'alice-sub',
    });
    await addPatient(plain, 'Sen', 'Tara');
    const { browser, page } = await upstreamSignIn(plain, 'alice-sub');
    expect(pageKind(page)).toBe('consent');
    const back = await browser.submit(page, { decision: 'allow' });
    expect(back.status).toBe(302);
    const code = new URL(back.location!).searchParams.get('code');
    expect(code).toEqual(expect.any(String));
  });

  test('an unknown identity is refused with a clear page and no user is created', async () => {
    const before = (await plain.pool.query('SELECT count(*)::int AS n FROM auth_user')).rows[0].n;
    const { page } = await upstreamSignIn(plain, 'mallory');
    expect(page.status).toBe(403);
    expect(page.html).toContain('not linked to a user of this server');
    expect((await plain.pool.query('SELECT count(*)::int AS n FROM auth_user')).rows[0].n).toBe(before);
  });

  test('without AROGYA_OIDC_MATCH_EMAIL an e-mail username does not match', async () => {
    await users(plain, { username: 'bob@example.org', password: 'bob password 12', fhirUser: 'Practitioner/bob' });
    expect((await upstreamSignIn(plain, 'bob')).page.status).toBe(403);
  });

  test('with AROGYA_OIDC_MATCH_EMAIL=on a verified e-mail matches the username; an unverified one does not', async () => {
    await users(byEmail, { username: 'bob@example.org', password: 'bob password 12', fhirUser: 'Practitioner/bob' });
    const { page } = await upstreamSignIn(byEmail, 'bob');
    expect(pageKind(page)).toBe('consent');
    expect((await upstreamSignIn(byEmail, 'bob-unverified')).page.status).toBe(403);
  });

  test('an unreachable provider is a message on the sign-in page, not a 500', async () => {
    const port = await freePort();
    const down = await startServer({ oidcIssuer: `http://127.0.0.1:${port}`, oidcClientId: 'x', oidcClientSecret: 'a-long-upstream-client-secret' });
    try {
      const clientId = (await registerClient(down, { redirectUris: [REDIRECT] })).clientId;
      const browser = new Browser();
      const { challenge } = pkce();
      const signIn = await browser.get(
        authorizeUrl(down, {
          client_id: clientId,
          redirect_uri: REDIRECT,
          scope: 'patient/*.rs',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
      );
      const page = await browser.submit(signIn, { action: 'upstream' });
      expect(page.status).toBe(502);
      expect(pageKind(page)).toBe('sign-in');
      expect(page.html).toContain('cannot be reached');
    } finally {
      await down.close();
    }
  });

  test('a forged callback (unknown state) is an error page', async () => {
    const res = await new Browser().get(`${plain.origin}/auth/oidc/callback?code=x&state=forged`);
    expect(res.status).toBe(400);
    expect(pageKind(res)).toBe('error');
  });
});
