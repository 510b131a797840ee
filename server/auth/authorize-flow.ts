/**
 * What the authorization pages share (authorize.ts: the authorization flow; account.ts: sign-out and the account
 * page): the stores, the upstream provider, and where the pages' cookies live. Built once per process.
 */
import type { FastifyRequest } from 'fastify';
import { recordDecision } from '../audit/decisions';
import { AuthRequestStore } from './authorize-state';
import { CodeStore } from './codes';
import { LaunchStore } from './launch';
import { type UpstreamOidc, upstreamOidc } from './oidc';
import { SignInLimiter } from './rate-limit';
import type { AuthServices } from './services';
import { SessionStore } from './sessions';
import { type AuthUser, UserStore } from './users';

/** The parts of the flow, built once per process. */
export interface AuthorizeFlow {
  s: AuthServices;
  requests: AuthRequestStore;
  users: UserStore;
  limiter: SignInLimiter;
  launches: LaunchStore;
  codes: CodeStore;
  sessions: SessionStore;
  upstream?: UpstreamOidc;
  cookiePath: string;
  secureCookies: boolean;
}

export function authorizeFlow(s: AuthServices): AuthorizeFlow {
  const issuer = new URL(s.endpoints.issuer);
  return {
    s,
    requests: new AuthRequestStore(s.db),
    users: new UserStore(s.db),
    limiter: new SignInLimiter(s.db, {
      perUser: s.config.signInLimitPerUser,
      perAddress: s.config.signInLimitPerAddress,
      windowSeconds: s.config.signInWindowSeconds,
    }),
    launches: new LaunchStore(s.db),
    codes: new CodeStore(s.db),
    sessions: new SessionStore(s.db, s.config.signInSessionSeconds),
    upstream: upstreamOidc(s.config, s.endpoints.issuer),
    cookiePath: issuer.pathname.replace(/\/+$/, '') || '/',
    secureCookies: issuer.protocol === 'https:',
  };
}

/** A password sign-in form's outcome: the user, or what the sign-in page says (status, message, the username to echo). */
export type PasswordSignIn = { user: AuthUser } | { status: number; message: string; username?: string; retryAfterSeconds?: number };

const WRONG_PASSWORD = 'The username or the password is not right.';

/**
 * The one password check of every sign-in form (the authorization flow's, the account page's): the rate limits per
 * user and per address (a refusal tells when to try again), the memory-hard verification, and the audit of the
 * decision (`clientId`: the app the person is signing in to, if any).
 */
export async function passwordSignIn(f: AuthorizeFlow, req: FastifyRequest, form: URLSearchParams, clientId?: string): Promise<PasswordSignIn> {
  const username = (form.get('username') ?? '').trim();
  const password = form.get('password') ?? '';
  if (!username || !password) return { status: 400, message: 'Enter your username and your password.', username: username.slice(0, 200) };
  // no username is longer (users.ts); a longer one is not looked up, counted or echoed
  if (username.length > 200) return { status: 401, message: WRONG_PASSWORD };
  const wait = await f.limiter.retryAfter(username, req.ip);
  if (wait > 0) {
    recordDecision(req, { kind: 'login', outcome: 'failure', clientId, user: username, reason: 'rate limited' });
    return { status: 429, message: `Too many failed sign-ins. Try again in ${Math.ceil(wait / 60)} minute(s).`, username, retryAfterSeconds: wait };
  }
  const user = await f.users.verifyPassword(username, password);
  if (!user) {
    recordDecision(req, { kind: 'login', outcome: 'failure', clientId, user: username, reason: 'wrong username or password' });
    await f.limiter.failed(username, req.ip);
    return { status: 401, message: WRONG_PASSWORD, username };
  }
  await f.limiter.succeeded(username);
  recordDecision(req, { kind: 'login', outcome: 'success', clientId, fhirUser: user.fhirUser, user: user.id });
  return { user };
}
