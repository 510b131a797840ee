/**
 * The person's own side of the authorization server: sign-out (`/auth/logout`) and the account page
 * (`/auth/account`), where a signed-in person sees the apps they allowed and withdraws them.
 *
 * - Sign-out: GET is a page with a button (a GET never ends a session: link prefetchers and crawlers follow links);
 *   its POST ends the browser's session. The session cookie is SameSite=Lax, so another site's form cannot do it.
 * - Account: a browser without a session gets the sign-in form (posting here, with a CSRF token that a cookie of
 *   this browser repeats, so nobody can sign a victim in as themselves); a signed-in one gets its apps. Withdraw
 *   (a POST carrying the session's CSRF token) forgets the remembered allow — the app must ask again — and revokes
 *   the refresh-token families the user's authorizations gave the app, with the access tokens they issued.
 *   Access tokens issued without a refresh token are not recorded and end at their expiry (AROGYA_ACCESS_TOKEN_TTL).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordDecision } from '../audit/decisions';
import { passwordSignIn, type AuthorizeFlow } from './authorize-flow';
import { opaqueToken, sameSecret } from './opaque';
import { cookies, paramsOf, sendPage, setCookie } from './page-http';
import { ACCOUNT_PATH, accountPage, type AllowedApp } from './pages/account';
import { signInPage } from './pages/sign-in';
import { signedOutPage, signOutPage } from './pages/sign-out';
import { RefreshStore } from './refresh';
import { SESSION_COOKIE, setSessionCookie, type SignInSession } from './sessions';
import type { AuthUser } from './users';

/** The account page's sign-in form's CSRF cookie (double submit: the form's hidden field must equal it). */
const SIGN_IN_COOKIE = 'arogya_account_signin';
const SIGN_IN_TTL_SECONDS = 15 * 60;

async function signedInUser(f: AuthorizeFlow, req: FastifyRequest): Promise<{ session: SignInSession; user: AuthUser } | undefined> {
  const session = await f.sessions.find(cookies(req).get(SESSION_COOKIE));
  const user = session ? await f.users.byId(session.userId) : undefined;
  return session && user ? { session, user } : undefined;
}

async function allowedApps(f: AuthorizeFlow, userId: string): Promise<AllowedApp[]> {
  const { rows } = await f.s.db.query<{ client_id: string; client_name: string | null; scope: string; allowed_on: string }>(
    `SELECT a.client_id, c.client_name, a.scope, to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS allowed_on
       FROM auth_consent a LEFT JOIN auth_client c ON c.client_id = a.client_id
      WHERE a.user_id = $1 ORDER BY a.created_at DESC, a.client_id, a.scope`,
    [userId],
  );
  return rows.map((r) => ({
    clientId: r.client_id,
    clientName: r.client_name ?? r.client_id,
    scope: r.scope,
    allowedOn: r.allowed_on,
  }));
}

async function showAccount(
  f: AuthorizeFlow,
  reply: FastifyReply,
  signed: { session: SignInSession; user: AuthUser },
  status = 200,
  notice?: string,
  error?: string,
) {
  const apps = await allowedApps(f, signed.user.id);
  return sendPage(reply, status, accountPage({ username: signed.user.username, csrf: signed.session.csrf, apps, notice, error }));
}

function showSignIn(f: AuthorizeFlow, reply: FastifyReply, status = 200, error?: string, username?: string) {
  const csrf = opaqueToken();
  setCookie(reply, f, SIGN_IN_COOKIE, csrf, SIGN_IN_TTL_SECONDS);
  return sendPage(reply, status, signInPage({ csrf, action: ACCOUNT_PATH, error, username }));
}

async function signIn(f: AuthorizeFlow, req: FastifyRequest, reply: FastifyReply, form: URLSearchParams) {
  const cookie = cookies(req).get(SIGN_IN_COOKIE);
  const csrf = form.get('csrf');
  if (!cookie || !csrf || !sameSecret(cookie, csrf)) {
    return showSignIn(f, reply, 403, 'This form was not sent from the page this server gave your browser (check that cookies are allowed).');
  }
  const r = await passwordSignIn(f, req, form);
  if (!('user' in r)) {
    if (r.retryAfterSeconds) reply.header('Retry-After', String(r.retryAfterSeconds));
    return showSignIn(f, reply, r.status, r.message, r.username);
  }
  const { user } = r;
  setCookie(reply, f, SIGN_IN_COOKIE, '', 0);
  // With sessions off (AROGYA_SIGNIN_SESSION_SECONDS=0) the account page still gets one, for 15 minutes: no
  // authorization uses it (authorize.ts looks at sessions only while they are on).
  const ttl = f.sessions.ttlSeconds || SIGN_IN_TTL_SECONDS;
  setSessionCookie(f, reply, await f.sessions.create(user.id, Math.floor(Date.now() / 1000), cookies(req).get(SESSION_COOKIE), ttl), ttl);
  return reply.redirect(ACCOUNT_PATH, 303);
}

async function withdraw(
  f: AuthorizeFlow,
  req: FastifyRequest,
  reply: FastifyReply,
  signed: { session: SignInSession; user: AuthUser },
  form: URLSearchParams,
) {
  const csrf = form.get('csrf');
  if (!csrf || !sameSecret(csrf, signed.session.csrf))
    return showAccount(f, reply, signed, 403, undefined, 'This form was not sent from this page, so it is refused.');
  const clientId = form.get('client_id') ?? '';
  const scope = form.get('scope') ?? '';
  const { rowCount } = await f.s.db.query('DELETE FROM auth_consent WHERE user_id = $1 AND client_id = $2 AND scope = $3', [
    signed.user.id,
    clientId,
    scope,
  ]);
  if (!rowCount) return showAccount(f, reply, signed, 400, undefined, 'That app is not among the ones you allowed (withdrawn already?).');
  // Another remembered scope set for the same app keeps its tokens; the last one withdrawn revokes them.
  const { rowCount: left } = await f.s.db.query('SELECT 1 FROM auth_consent WHERE user_id = $1 AND client_id = $2', [signed.user.id, clientId]);
  if (!left) {
    const now = Math.floor(Date.now() / 1000);
    for (const a of await new RefreshStore(f.s.db).revokeUserClient(signed.user.id, clientId)) {
      if (a.exp > now) await f.s.tokens.revokeAccessToken(a.jti, a.exp);
    }
  }
  recordDecision(req, {
    kind: 'consent',
    outcome: 'failure',
    clientId,
    fhirUser: signed.user.fhirUser,
    user: signed.user.id,
    scope,
    reason: 'the user withdrew access',
  });
  const client = await f.s.clients.find(clientId);
  return showAccount(f, reply, signed, 200, `Access for ${client?.clientName ?? clientId} withdrawn.`);
}

export function registerAccount(app: FastifyInstance, f: AuthorizeFlow): void {
  app.get('/auth/logout', async (req, reply) => {
    const signed = await signedInUser(f, req);
    return sendPage(reply, 200, signOutPage(signed?.user.username));
  });
  app.post('/auth/logout', async (req, reply) => {
    const id = cookies(req).get(SESSION_COOKIE);
    const signed = await signedInUser(f, req);
    if (signed) recordDecision(req, { kind: 'logout', outcome: 'success', fhirUser: signed.user.fhirUser, user: signed.user.id });
    await f.sessions.end(id);
    setSessionCookie(f, reply, '', 0);
    return sendPage(reply, 200, signedOutPage());
  });
  app.get(ACCOUNT_PATH, async (req, reply) => {
    const signed = await signedInUser(f, req);
    return signed ? showAccount(f, reply, signed) : showSignIn(f, reply);
  });
  app.post(ACCOUNT_PATH, async (req, reply) => {
    const form = paramsOf(req);
    const signed = await signedInUser(f, req);
    if (form.get('action') === 'withdraw') {
      return signed ? withdraw(f, req, reply, signed, form) : showSignIn(f, reply, 401, 'Your sign-in has ended. Sign in again.');
    }
    return signIn(f, req, reply, form);
  });
}
