/**
 * What the authorization pages share (authorize.ts: the authorization flow; account.ts: sign-out and the account
 * page): the stores, the upstream provider, and where the pages' cookies live. Built once per process.
 */
import { AuthRequestStore } from './authorize-state';
import { CodeStore } from './codes';
import { LaunchStore } from './launch';
import { type UpstreamOidc, upstreamOidc } from './oidc';
import { SignInLimiter } from './rate-limit';
import type { AuthServices } from './services';
import { SessionStore } from './sessions';
import { UserStore } from './users';

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
