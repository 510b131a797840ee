/**
 * Websocket binding tokens — the R5 backport's `$get-ws-binding-token`
 * (https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-get-ws-binding-token.html):
 * a browser cannot put an Authorization header on a websocket upgrade, so it asks for a short-lived token over
 * HTTP (with its access token) and sends `bind-with-token <token>` on the socket instead.
 *
 * The token is a JWT signed with the server's signing keys (auth/keys.ts: shared by every process through
 * PostgreSQL, so a token issued by one process binds on another) with its own `typ`, so it can never pass for an
 * access token nor an access token for it. It names the Subscriptions it binds and carries the caller's
 * authorisation (client, user, scopes, launch context): a bind re-checks with it that the caller may still read
 * each Subscription. It is valid for `ttlSeconds` and never beyond the access token it was issued against.
 */
import { SignJWT, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { AuthContext } from '../../auth/context';
import { SIGNING_ALG, type SigningKeys } from '../../auth/keys';
import { parseScopes } from '../../auth/scopes';

const TYP = 'ws-binding+jwt';

export interface IssuedBindingToken {
  token: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export interface VerifiedBindingToken {
  subscriptions: string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** The caller the token was issued to; null when it was issued without authentication (AROGYA_AUTH=off). */
  auth: AuthContext | null;
  /** The access token it was issued against (its jti), for the revocation check. */
  accessTokenId?: string;
}

export class InvalidBindingTokenError extends Error {}

export class WsBindingTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly opts: { issuer: string; websocketUrl: string; ttlSeconds: number },
  ) {}

  get websocketUrl(): string {
    return this.opts.websocketUrl;
  }

  async issue(subscriptions: string[], auth: AuthContext | null): Promise<IssuedBindingToken> {
    const now = Math.floor(Date.now() / 1000);
    const exp = Math.min(now + this.opts.ttlSeconds, auth?.exp ?? Number.POSITIVE_INFINITY);
    const payload: JWTPayload & Record<string, unknown> = { subscriptions };
    if (auth) {
      payload.client_id = auth.clientId;
      payload.scope = auth.scope;
      payload.at = auth.jti;
      if (auth.patient) payload.patient = auth.patient;
      if (auth.encounter) payload.encounter = auth.encounter;
      if (auth.fhirUser) payload.fhirUser = auth.fhirUser;
    }
    const { kid, key } = await this.keys.signing();
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: TYP })
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.websocketUrl)
      .setSubject(auth?.sub ?? 'anonymous')
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(key);
    return { token, exp };
  }

  /** The token's content; InvalidBindingTokenError when it is malformed, forged, of another kind or expired. */
  async verify(token: string): Promise<VerifiedBindingToken> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== SIGNING_ALG || header.typ !== TYP) throw new InvalidBindingTokenError('not a binding token');
      kid = header.kid;
    } catch (e) {
      if (e instanceof InvalidBindingTokenError) throw e;
      throw new InvalidBindingTokenError('not a binding token');
    }
    const key = kid ? await this.keys.verificationKey(kid) : undefined;
    if (!key) throw new InvalidBindingTokenError('the binding token was not signed by this server');
    let p: JWTPayload & Record<string, unknown>;
    try {
      ({ payload: p } = await jwtVerify(token, key, {
        algorithms: [SIGNING_ALG],
        issuer: this.opts.issuer,
        audience: this.opts.websocketUrl,
        typ: TYP,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch {
      throw new InvalidBindingTokenError('the binding token is expired or not valid');
    }
    const subscriptions = Array.isArray(p.subscriptions) ? p.subscriptions.filter((s): s is string => typeof s === 'string') : [];
    if (typeof p.client_id !== 'string') return { subscriptions, exp: p.exp!, auth: null };
    const scope = typeof p.scope === 'string' ? p.scope : '';
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    return {
      subscriptions,
      exp: p.exp!,
      accessTokenId: str(p.at),
      auth: {
        jti: str(p.at) ?? '',
        clientId: p.client_id,
        sub: p.sub!,
        scope,
        grants: parseScopes(scope).grants,
        patient: str(p.patient),
        encounter: str(p.encounter),
        fhirUser: str(p.fhirUser),
        admin: false,
        exp: p.exp!,
      },
    };
  }
}

/** The websocket endpoint's public URL: the FHIR base's, in ws(s):, plus `/ws`. */
export function websocketUrlOf(baseUrl: string): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/ws`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
