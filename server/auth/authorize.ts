/**
 * The authorization endpoint (SMART App Launch 2.2 "obtain authorization code"; DESIGN.md §1.1): GET or POST
 * `/auth/authorize` starts an authorization and answers with the sign-in page; the pages' forms post back here
 * (they carry the hidden `request` and `csrf` fields) and each answer is the next page, in the contract's order:
 * sign-in → patient picker (a standalone `launch/patient` for a user without a patient of their own) → consent
 * (skipped when this user allowed this client these scopes before) → redirect to the app with `code` and `state`.
 * Every step's state is in PostgreSQL (authorize-state.ts), so each page may be answered by any worker.
 *
 * A browser that signed in keeps a sign-in session (sessions.ts) and skips the sign-in page at its next
 * authorizations. OpenID Connect's `prompt` and `max_age` are honoured: `login` (and `select_account`) and a
 * sign-in older than `max_age` show the sign-in page anyway, `consent` shows the consent page even when remembered,
 * and `none` shows no page at all — the app gets its code, or `login_required`, `interaction_required` (a patient
 * must be picked) or `consent_required`. `/auth/logout` ends the session.
 *
 * Each page carries its own CSP: no script at all, and `form-action` allowing this origin plus the app's redirect
 * URI origin (a form's answer redirects there, and browsers check form-action on that redirect) and, on the
 * sign-in page, the upstream provider's.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkAuthorizeRequest, errorRedirect } from './authorize-params';
import { findPatients, visiblePatient } from './authorize-patients';
import { REQUEST_TTL_SECONDS, type PendingRequest } from './authorize-state';
import { SMART_STYLE_PATH } from './grants';
import type { UpstreamOidc } from './oidc';
import { opaqueToken, sameSecret, secretHash } from './opaque';
import { cookies, paramsOf, sendError, sendPage, setCookie } from './page-http';
import { consentPage } from './pages/consent';
import { pickerPage } from './pages/picker';
import { recordDecision } from '../audit/decisions';
import { signInPage } from './pages/sign-in';
import { SESSION_COOKIE, setSessionCookie, type SignInSession } from './sessions';
import { passwordSignIn, type AuthorizeFlow } from './authorize-flow';
import { PAGES_CSS, SMART_STYLE } from './pages/style';
import type { AuthUser } from './users';

// ---- HTTP helpers ----------------------------------------------------------------------------------------------

/** A CSP source for a URL: its origin, or its scheme for a custom-scheme redirect URI (native apps). */
function cspSource(uri: string): string {
  const url = new URL(uri);
  return url.origin !== 'null' ? url.origin : url.protocol;
}

/** Each authorization request's cookie: its CSRF token, named after it (several may run in one browser). */
const cookieName = (csrf: string): string => `arogya_req_${secretHash(csrf).slice(0, 16)}`;

function setRequestCookie(f: AuthorizeFlow, reply: FastifyReply, csrf: string, maxAge: number): void {
  setCookie(reply, f, cookieName(csrf), csrf, maxAge);
}

/** Whether the browser posting this form is the one that started the request (CSRF). */
function sameBrowser(req: FastifyRequest, pending: PendingRequest, formCsrf: string | null): boolean {
  const cookie = cookies(req).get(cookieName(pending.csrf));
  return !!cookie && !!formCsrf && sameSecret(cookie, pending.csrf) && sameSecret(formCsrf, pending.csrf);
}

// ---- the flow ----------------------------------------------------------------------------------------------------

const scopesOf = (p: PendingRequest): string[] => p.params.scope.split(' ');
const needsPatientChoice = (p: PendingRequest): boolean => scopesOf(p).includes('launch/patient') && !p.patient;
const normalisedScope = (scope: string): string => [...new Set(scope.split(/\s+/).filter(Boolean))].sort().join(' ');
const EXPIRED = 'This sign-in has expired or is already finished. Go back to the app and start again.';

function redirectTargets(f: AuthorizeFlow, p: PendingRequest, withUpstream = false): string[] {
  return [cspSource(p.params.redirectUri), ...(withUpstream && f.upstream ? f.upstream.formTargets : [])];
}

function showSignIn(f: AuthorizeFlow, reply: FastifyReply, p: PendingRequest, status = 200, error?: string, username?: string): FastifyReply {
  const html = signInPage({ requestId: p.id, csrf: p.csrf, clientName: p.params.clientName, error, username, upstreamName: f.upstream?.name });
  return sendPage(reply, status, html, redirectTargets(f, p, true));
}

async function showPicker(f: AuthorizeFlow, reply: FastifyReply, p: PendingRequest, user: AuthUser, q: string, status = 200, error?: string) {
  const patients = await findPatients(f.s.repo, user, q);
  return sendPage(
    reply,
    status,
    pickerPage({ requestId: p.id, csrf: p.csrf, clientName: p.params.clientName, q, patients, error, signedInAs: user.username }),
    redirectTargets(f, p),
  );
}

async function showConsent(f: AuthorizeFlow, reply: FastifyReply, p: PendingRequest, user: AuthUser, status = 200) {
  const patient = p.patient ? await visiblePatient(f.s.repo, user, p.patient) : undefined;
  const html = consentPage({
    requestId: p.id,
    csrf: p.csrf,
    clientName: p.params.clientName,
    scopes: scopesOf(p),
    patientLabel: patient?.name,
    signedInAs: user.username,
  });
  return sendPage(reply, status, html, redirectTargets(f, p));
}

/** Ends the request and sends the browser back to the app (with a code, or an error). */
async function finish(
  f: AuthorizeFlow,
  reply: FastifyReply,
  p: PendingRequest,
  user: AuthUser,
  outcome: 'allow' | { error: string; description: string },
) {
  if (!(await f.requests.finish(p))) return sendError(reply, 400, 'Already finished', EXPIRED);
  setRequestCookie(f, reply, p.csrf, 0);
  if (outcome !== 'allow') return reply.redirect(errorRedirect(p.params.redirectUri, outcome.error, outcome.description, p.params.state), 302);
  const launch = p.params.launch;
  const code = await f.codes.issue({
    clientId: p.params.clientId,
    redirectUri: p.params.redirectUri,
    userId: user.id,
    scope: p.params.scope,
    codeChallenge: p.params.codeChallenge,
    context: {
      fhirUser: user.fhirUser,
      ...(p.patient ? { patient: p.patient, needPatientBanner: !launch } : {}),
      ...(launch?.encounter && launch.patient === p.patient ? { encounter: launch.encounter } : {}),
      authTime: p.params.authTime ?? Math.floor(Date.now() / 1000),
      ...(p.params.nonce ? { nonce: p.params.nonce } : {}),
    },
  });
  const url = new URL(p.params.redirectUri);
  url.searchParams.set('code', code);
  url.searchParams.set('state', p.params.state);
  return reply.redirect(url.toString(), 302);
}

/** The page after the current state: picker, consent, or (consent remembered) back to the app. */
async function proceed(f: AuthorizeFlow, reply: FastifyReply, p: PendingRequest, user: AuthUser) {
  const silent = p.params.prompt?.includes('none');
  if (needsPatientChoice(p)) {
    if (silent) return finish(f, reply, p, user, { error: 'interaction_required', description: 'a patient must be chosen (prompt=none)' });
    return showPicker(f, reply, p, user, '');
  }
  if (p.params.prompt?.includes('consent')) return showConsent(f, reply, p, user);
  const { rowCount } = await f.s.db.query('SELECT 1 FROM auth_consent WHERE user_id = $1 AND client_id = $2 AND scope = $3', [
    user.id,
    p.params.clientId,
    normalisedScope(p.params.scope),
  ]);
  if (rowCount) return finish(f, reply, p, user, 'allow');
  if (silent) return finish(f, reply, p, user, { error: 'consent_required', description: 'the user has not allowed these scopes yet (prompt=none)' });
  return showConsent(f, reply, p, user);
}

/**
 * A user has signed in — just now, or earlier in this browser's `session`: the patient context follows. A Patient
 * user is their own patient (whatever a launch said); an EHR launch's patient must be one the user may see. A sign-in
 * just now starts the browser's session (replacing the one it had).
 */
async function signedIn(f: AuthorizeFlow, req: FastifyRequest, reply: FastifyReply, p: PendingRequest, user: AuthUser, session?: SignInSession) {
  const authTime = session?.authTime ?? Math.floor(Date.now() / 1000);
  if (!session && f.sessions.ttlSeconds > 0) {
    setSessionCookie(f, reply, await f.sessions.create(user.id, authTime, cookies(req).get(SESSION_COOKIE)), f.sessions.ttlSeconds);
  }
  const params = { ...p.params, authTime };
  delete params.upstream;
  let patient: string | undefined;
  const [type, id] = user.fhirUser.split('/');
  if (type === 'Patient') patient = id;
  else if (p.params.launch?.patient) {
    if (!(await visiblePatient(f.s.repo, user, p.params.launch.patient))) {
      const next = await f.requests.update(p, { userId: user.id, params });
      return finish(f, reply, next, user, { error: 'access_denied', description: "the launch's patient is not one this user may see" });
    }
    patient = p.params.launch.patient;
  }
  const next = await f.requests.update(p, { userId: user.id, params, ...(patient ? { patient } : {}) });
  return proceed(f, reply, next, user);
}

/** The browser's sign-in session, when it may stand for a sign-in to this request (prompt, max_age). */
async function sessionFor(
  f: AuthorizeFlow,
  req: FastifyRequest,
  params: PendingRequest['params'],
): Promise<{ session: SignInSession; user: AuthUser } | undefined> {
  if (f.sessions.ttlSeconds === 0 || params.prompt?.includes('login') || params.prompt?.includes('select_account')) return undefined;
  const session = await f.sessions.find(cookies(req).get(SESSION_COOKIE));
  if (!session) return undefined;
  if (params.maxAge !== undefined && Math.floor(Date.now() / 1000) - session.authTime >= params.maxAge) return undefined;
  const user = await f.users.byId(session.userId);
  return user ? { session, user } : undefined;
}

async function start(f: AuthorizeFlow, req: FastifyRequest, reply: FastifyReply, q: URLSearchParams) {
  const checked = await checkAuthorizeRequest(q, { baseUrl: f.s.config.baseUrl, findClient: (id) => f.s.clients.find(id) });
  if (checked.kind === 'page') return sendError(reply, checked.status, checked.title, checked.message);
  if (checked.kind === 'redirect') return reply.redirect(checked.location, 302);
  const params = checked.params;
  // (before the launch is taken: a silent attempt that cannot go on leaves the EHR's launch usable)
  const signed = await sessionFor(f, req, params);
  if (!signed && params.prompt?.includes('none')) {
    return reply.redirect(
      errorRedirect(params.redirectUri, 'login_required', 'no one is signed in in this browser (prompt=none)', params.state),
      302,
    );
  }
  if (checked.launch !== undefined) {
    const launch = await f.launches.take(checked.launch, params.clientId);
    if (!launch) {
      const description = 'the launch is unknown, used, expired or belongs to another app';
      return reply.redirect(errorRedirect(params.redirectUri, 'invalid_request', description, params.state), 302);
    }
    params.launch = launch;
  }
  const pending = await f.requests.create(params);
  setRequestCookie(f, reply, pending.csrf, REQUEST_TTL_SECONDS);
  if (signed) return signedIn(f, req, reply, pending, signed.user, signed.session);
  return showSignIn(f, reply, pending);
}

async function signInStep(f: AuthorizeFlow, req: FastifyRequest, reply: FastifyReply, p: PendingRequest, form: URLSearchParams) {
  if (form.get('action') === 'upstream' && f.upstream) {
    let started: Awaited<ReturnType<UpstreamOidc['start']>>;
    try {
      started = await f.upstream.start();
    } catch {
      // the provider's metadata could not be read: say so on the page (the password form still works)
      return showSignIn(f, reply, p, 502, `${f.upstream.name} cannot be reached right now. Try again later, or sign in with your password.`);
    }
    await f.requests.update(p, {
      params: { ...p.params, upstream: { state: started.state, nonce: started.nonce, codeVerifier: started.codeVerifier } },
    });
    return reply.redirect(started.url, 303);
  }
  const r = await passwordSignIn(f, req, form, p.params.clientId);
  if ('user' in r) return signedIn(f, req, reply, p, r.user);
  if (r.retryAfterSeconds) reply.header('Retry-After', String(r.retryAfterSeconds));
  return showSignIn(f, reply, p, r.status, r.message, r.username);
}

async function pickerStep(f: AuthorizeFlow, reply: FastifyReply, p: PendingRequest, user: AuthUser, form: URLSearchParams) {
  const action = form.get('action');
  const chosen = form.get('patient');
  const q = (form.get('q') ?? '').slice(0, 200);
  if (action === 'search' || (!action && !chosen)) return showPicker(f, reply, p, user, q);
  if (!chosen) return showPicker(f, reply, p, user, q, 400, 'Choose a patient.');
  if (!(await visiblePatient(f.s.repo, user, chosen)))
    return showPicker(f, reply, p, user, q, 400, 'That patient cannot be chosen. Choose one from the list.');
  return proceed(f, reply, await f.requests.update(p, { patient: chosen }), user);
}

async function consentStep(f: AuthorizeFlow, req: FastifyRequest, reply: FastifyReply, p: PendingRequest, user: AuthUser, form: URLSearchParams) {
  const decision = form.get('decision');
  if (decision === 'allow' || decision === 'deny') {
    const d = { kind: 'consent', clientId: p.params.clientId, fhirUser: user.fhirUser, user: user.id, scope: p.params.scope } as const;
    recordDecision(req, {
      ...d,
      outcome: decision === 'allow' ? 'success' : 'failure',
      reason: decision === 'deny' ? 'the user denied access' : undefined,
    });
  }
  if (decision === 'deny') return finish(f, reply, p, user, { error: 'access_denied', description: 'the user denied access' });
  if (decision !== 'allow') return showConsent(f, reply, p, user, 400);
  await f.s.db.query('INSERT INTO auth_consent (user_id, client_id, scope) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
    user.id,
    p.params.clientId,
    normalisedScope(p.params.scope),
  ]);
  return finish(f, reply, p, user, 'allow');
}

/** A page's form posted back: the step the request is at decides which fields count. */
async function step(f: AuthorizeFlow, req: FastifyRequest, reply: FastifyReply, form: URLSearchParams) {
  const pending = await f.requests.find(form.get('request') ?? '');
  if (!pending) return sendError(reply, 400, 'Sign-in expired', EXPIRED);
  if (!sameBrowser(req, pending, form.get('csrf'))) {
    return sendError(
      reply,
      403,
      'Sign-in refused',
      'This form was not sent from the page this server gave your browser (check that cookies are allowed), so it is refused.',
    );
  }
  const user = pending.userId ? await f.users.byId(pending.userId) : undefined;
  if (!user) return signInStep(f, req, reply, pending, form);
  if (needsPatientChoice(pending)) return pickerStep(f, reply, pending, user, form);
  return consentStep(f, req, reply, pending, user, form);
}

/** The upstream provider sends the browser back here. */
async function upstreamCallback(f: AuthorizeFlow, req: FastifyRequest, reply: FastifyReply, upstream: UpstreamOidc) {
  const query = new URL(req.url, 'http://localhost').searchParams;
  const pending = await f.requests.takeByUpstreamState(query.get('state') ?? opaqueToken());
  const expected = pending?.params.upstream;
  if (!pending || !expected) return sendError(reply, 400, 'Sign-in expired', EXPIRED);
  if (!sameBrowser(req, pending, pending.csrf)) {
    return sendError(reply, 403, 'Sign-in refused', 'This sign-in was not started in this browser (check that cookies are allowed).');
  }
  const result = await upstream.finish(query, expected, f.users);
  const params = { ...pending.params };
  delete params.upstream;
  const p = await f.requests.update(pending, { params });
  recordDecision(req, {
    kind: 'login',
    outcome: result.kind === 'user' ? 'success' : 'failure',
    clientId: p.params.clientId,
    fhirUser: result.kind === 'user' ? result.user.fhirUser : undefined,
    user: result.kind === 'user' ? result.user.id : undefined,
    reason:
      result.kind === 'failed' ? `upstream: ${result.reason}` : result.kind === 'unknown' ? 'upstream identity not linked to a user' : undefined,
  });
  if (result.kind === 'failed') return showSignIn(f, reply, p, 401, `Sign-in with ${upstream.name} did not complete: ${result.reason}.`);
  if (result.kind === 'unknown') {
    return sendError(
      reply,
      403,
      'No Arogya user for this account',
      `Your ${upstream.name} account is not linked to a user of this server, so it cannot sign in here. Ask your administrator to link it.`,
    );
  }
  return signedIn(f, req, reply, p, result.user);
}

export function registerAuthorize(app: FastifyInstance, f: AuthorizeFlow): void {
  app.get('/auth/authorize', async (req, reply) => start(f, req, reply, paramsOf(req)));
  app.post('/auth/authorize', async (req, reply) => {
    const form = paramsOf(req);
    return form.has('request') ? step(f, req, reply, form) : start(f, req, reply, form);
  });
  const upstream = f.upstream;
  if (upstream) app.get('/auth/oidc/callback', async (req, reply) => upstreamCallback(f, req, reply, upstream));
  app.get('/auth/static/pages.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('Cache-Control', 'public, max-age=3600').send(PAGES_CSS),
  );
  app.get(`/auth${SMART_STYLE_PATH}`, async (_req, reply) => reply.header('Cache-Control', 'public, max-age=3600').send(SMART_STYLE));
}
