/**
 * Sign-in through an upstream OpenID Connect provider (issue 11 point 2), when AROGYA_OIDC_ISSUER,
 * AROGYA_OIDC_CLIENT_ID and AROGYA_OIDC_CLIENT_SECRET are set: the sign-in page offers "Sign in with …", the
 * browser goes to the provider (authorization code + PKCE + state + nonce, through `openid-client`) and comes back
 * to `/auth/oidc/callback`. The identity signs in as the local user recorded with that issuer and subject or —
 * only with AROGYA_OIDC_MATCH_EMAIL=on — the user whose username is the provider's *verified* e-mail. An unknown
 * identity is refused; no user is ever created by signing in.
 */
import * as client from 'openid-client';
import type { Config } from '../config';
import type { AuthUser, UserStore } from './users';

export interface UpstreamStart {
  /** Where to send the browser. */
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export type UpstreamResult =
  | { kind: 'user'; user: AuthUser }
  /** A verified identity with no local user. */
  | { kind: 'unknown' }
  /** The provider said no, or its answer did not verify. */
  | { kind: 'failed'; reason: string };

export interface UpstreamConfig {
  oidcIssuer: string;
  oidcClientId: string;
  oidcClientSecret: string;
  oidcName?: string;
  oidcMatchEmail: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export class UpstreamOidc {
  private configuration?: Promise<client.Configuration>;
  readonly name: string;
  /**
   * Where the sign-in form's answer may redirect (its `form-action`): the issuer's origin and, once discovered, the
   * authorization endpoint's (a provider may serve it from another host).
   */
  formTargets: string[];

  constructor(
    private readonly config: UpstreamConfig,
    /** Our callback URL (…/auth/oidc/callback), registered at the provider. */
    readonly callbackUrl: string,
  ) {
    const issuer = new URL(config.oidcIssuer);
    this.name = config.oidcName ?? issuer.host;
    this.formTargets = [issuer.origin];
    // discovered early, so the first sign-in page already names the authorization endpoint's origin
    void this.discover().then(
      () => undefined,
      () => undefined,
    );
  }

  /** The provider's metadata, discovered once per process (again after a failure). */
  private discover(): Promise<client.Configuration> {
    if (!this.configuration) {
      const issuer = new URL(this.config.oidcIssuer);
      // plain http only for a provider on this machine (tests, development)
      const insecure = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);
      this.configuration = client.discovery(issuer, this.config.oidcClientId, this.config.oidcClientSecret, undefined, {
        ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
        timeout: 10,
      });
      this.configuration.then(
        (c) => {
          const endpoint = c.serverMetadata().authorization_endpoint;
          if (endpoint) this.formTargets = [...new Set([new URL(this.config.oidcIssuer).origin, new URL(endpoint).origin])];
        },
        () => (this.configuration = undefined),
      );
    }
    return this.configuration;
  }

  async start(): Promise<UpstreamStart> {
    const configuration = await this.discover();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.callbackUrl,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.toString(), state, nonce, codeVerifier };
  }

  /** The provider's answer at our callback (`query` as received) → the local user it signs in as. */
  async finish(query: URLSearchParams, expected: { state: string; nonce: string; codeVerifier: string }, users: UserStore): Promise<UpstreamResult> {
    if (query.get('error')) return { kind: 'failed', reason: `the provider answered ${query.get('error')}` };
    let claims: client.IDToken | undefined;
    let email: { email?: unknown; email_verified?: unknown } = {};
    try {
      const configuration = await this.discover();
      const current = new URL(this.callbackUrl);
      current.search = query.toString();
      const tokens = await client.authorizationCodeGrant(configuration, current, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        expectedNonce: expected.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
      email = { email: claims?.email, email_verified: claims?.email_verified };
      // a provider may keep the e-mail for its userinfo endpoint (claims requested by scope)
      if (claims && this.config.oidcMatchEmail && email.email === undefined) {
        email = await client.fetchUserInfo(configuration, tokens.access_token, claims.sub);
      }
    } catch (e) {
      return { kind: 'failed', reason: `the provider's answer did not verify (${(e as Error).name})` };
    }
    if (!claims) return { kind: 'failed', reason: 'the provider sent no id_token' };
    const user = await users.byOidcIdentity(claims.iss, claims.sub);
    if (user) return { kind: 'user', user };
    if (this.config.oidcMatchEmail && email.email_verified === true && typeof email.email === 'string') {
      const byEmail = await users.byEmailUsername(email.email);
      // a user bound to an upstream identity signs in only as that identity
      if (byEmail && !byEmail.oidcSubject) return { kind: 'user', user: byEmail };
    }
    return { kind: 'unknown' };
  }
}

/** The upstream provider of this configuration, or undefined when none is configured. */
export function upstreamOidc(config: Config, issuerUrl: string): UpstreamOidc | undefined {
  if (!config.oidcIssuer || !config.oidcClientId || !config.oidcClientSecret) return undefined;
  return new UpstreamOidc(
    {
      oidcIssuer: config.oidcIssuer,
      oidcClientId: config.oidcClientId,
      oidcClientSecret: config.oidcClientSecret,
      oidcName: config.oidcName,
      oidcMatchEmail: config.oidcMatchEmail,
    },
    `${issuerUrl}/oidc/callback`,
  );
}
