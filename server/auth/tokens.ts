/**
 * Access tokens and id_tokens: JWTs signed with the server's keys (keys.ts). An access token carries what the
 * resource server needs to decide without a database read — client, subject, scopes, launch context, fhirUser —
 * and `aud` = the FHIR base (DESIGN.md §1.1). Verified tokens are cached until they expire; revocation (RFC 7009)
 * is a list of revoked token ids in PostgreSQL that each worker re-reads at most every `revocationSyncMs`.
 */
import crypto from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Pool } from '../database/pool';
import type { AuthContext } from './context';
import { SIGNING_ALG, type SigningKeys } from './keys';
import { parseScopes } from './scopes';

export interface AccessTokenClaims {
  clientId: string;
  /** The user id, or the client id for client_credentials. */
  sub: string;
  scope: string;
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  admin?: boolean;
}

export interface IssuedAccessToken {
  access_token: string;
  expires_in: number;
  jti: string;
  exp: number;
}

/** Why a bearer token was refused (401 + WWW-Authenticate: Bearer error="invalid_token"). */
export class InvalidTokenError extends Error {}

const CACHE_MAX = 10_000;

/**
 * The cache's key for a token: the end of its signature (unique per token: the signature covers the jti). Hashing
 * these few characters instead of the whole token (about a kilobyte) is most of what a cache hit costs; a hit
 * still requires the whole token to be equal.
 */
const cacheKey = (token: string): string => token.slice(-48);

export interface TokenServiceOptions {
  /** The authorization server's issuer URL (…/auth). */
  issuer: string;
  /** The FHIR base URL: every access token's audience. */
  audience: string;
  accessTokenTtlSeconds: number;
  revocationSyncMs: number;
}

export class TokenService {
  /** Verified tokens by cacheKey, each with the token it was verified for. */
  private readonly cache = new Map<string, { token: string; ctx: AuthContext }>();
  private revoked = new Set<string>();
  private revokedSyncedAt = 0;
  /** The latest revocation seen (ms since the epoch, database clock). */
  private revokedWatermark = 0;
  private syncing?: Promise<void>;

  constructor(
    private readonly db: Pool,
    readonly keys: SigningKeys,
    readonly options: TokenServiceOptions,
  ) {}

  async issueAccessToken(c: AccessTokenClaims, ttlSeconds = this.options.accessTokenTtlSeconds): Promise<IssuedAccessToken> {
    const jti = crypto.randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const exp = now + ttlSeconds;
    const payload: JWTPayload & Record<string, unknown> = { scope: c.scope, client_id: c.clientId };
    if (c.patient) payload.patient = c.patient;
    if (c.encounter) payload.encounter = c.encounter;
    if (c.fhirUser) payload.fhirUser = c.fhirUser;
    if (c.admin) payload.admin = true;
    const access_token = await this.sign(payload, { sub: c.sub, aud: this.options.audience, jti, iat: now, exp, typ: 'at+jwt' });
    return { access_token, expires_in: ttlSeconds, jti, exp };
  }

  /** An OpenID Connect id_token for the client (aud = client_id). */
  async issueIdToken(
    claims: { sub: string; clientId: string; fhirUser?: string; nonce?: string; authTime?: number },
    ttlSeconds = 3600,
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload & Record<string, unknown> = {};
    if (claims.fhirUser) payload.fhirUser = claims.fhirUser;
    if (claims.nonce) payload.nonce = claims.nonce;
    if (claims.authTime) payload.auth_time = claims.authTime;
    return this.sign(payload, { sub: claims.sub, aud: claims.clientId, jti: crypto.randomUUID(), iat: now, exp: now + ttlSeconds, typ: 'JWT' });
  }

  private async sign(payload: JWTPayload, h: { sub: string; aud: string; jti: string; iat: number; exp: number; typ: string }): Promise<string> {
    const { kid, key } = await this.keys.signing();
    return new SignJWT(payload)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: h.typ })
      .setIssuer(this.options.issuer)
      .setSubject(h.sub)
      .setAudience(h.aud)
      .setJti(h.jti)
      .setIssuedAt(h.iat)
      .setExpirationTime(h.exp)
      .sign(key);
  }

  /**
   * The AuthContext of a token verified before, when it can be given at once: in the cache, not expired, not
   * revoked, and the revocation list read within revocationSyncMs. Undefined otherwise: verifyAccessToken decides
   * (and refreshes the revocation list). The request path's fast lane: no promise, no signature check.
   */
  cachedAccessToken(token: string): AuthContext | undefined {
    const now = Date.now();
    if (now - this.revokedSyncedAt >= this.options.revocationSyncMs) return undefined;
    const hit = this.cache.get(cacheKey(token));
    if (hit === undefined || hit.token !== token) return undefined;
    const cached = hit.ctx;
    if (cached.exp * 1000 <= now || this.revoked.has(cached.jti)) return undefined;
    return cached;
  }

  /** The AuthContext of a bearer token; InvalidTokenError when it is malformed, forged, expired or revoked. */
  async verifyAccessToken(token: string): Promise<AuthContext> {
    await this.syncRevoked();
    const key = cacheKey(token);
    const hit = this.cache.get(key);
    const cached = hit?.token === token ? hit.ctx : undefined;
    const now = Date.now() / 1000;
    if (cached) {
      if (cached.exp <= now) {
        this.cache.delete(key);
        throw new InvalidTokenError('the access token has expired');
      }
      if (this.revoked.has(cached.jti)) throw new InvalidTokenError('the access token has been revoked');
      return cached;
    }
    const ctx = await this.verify(token);
    if (this.revoked.has(ctx.jti)) throw new InvalidTokenError('the access token has been revoked');
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { token, ctx });
    return ctx;
  }

  /** Verifies signature, issuer, audience and lifetime; no cache, no revocation check. */
  async verify(token: string): Promise<AuthContext> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== SIGNING_ALG) throw new InvalidTokenError(`the access token's algorithm must be ${SIGNING_ALG}`);
      kid = header.kid;
    } catch (e) {
      if (e instanceof InvalidTokenError) throw e;
      throw new InvalidTokenError('the access token is not a JWT');
    }
    const key = kid ? await this.keys.verificationKey(kid) : undefined;
    if (!key) throw new InvalidTokenError('the access token was not signed by this server');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [SIGNING_ALG],
        issuer: this.options.issuer,
        audience: this.options.audience,
        typ: 'at+jwt',
        requiredClaims: ['exp', 'jti', 'sub'],
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new InvalidTokenError('the access token has expired');
      throw new InvalidTokenError('the access token is not valid');
    }
    const p = payload as JWTPayload & Record<string, unknown>;
    const scope = typeof p.scope === 'string' ? p.scope : '';
    return {
      jti: p.jti!,
      clientId: String(p.client_id ?? ''),
      sub: p.sub!,
      scope,
      grants: parseScopes(scope).grants,
      patient: typeof p.patient === 'string' ? p.patient : undefined,
      encounter: typeof p.encounter === 'string' ? p.encounter : undefined,
      fhirUser: typeof p.fhirUser === 'string' ? p.fhirUser : undefined,
      admin: p.admin === true,
      exp: p.exp!,
    };
  }

  /** Revokes an access token by id until it would have expired (RFC 7009); effective at once on this worker. */
  async revokeAccessToken(jti: string, exp: number): Promise<void> {
    await this.db.query('INSERT INTO auth_revoked (jti, expires_at) VALUES ($1, to_timestamp($2)) ON CONFLICT (jti) DO NOTHING', [jti, exp]);
    this.revoked.add(jti);
  }

  /** Whether a token id has been revoked (read from the database: for introspection, which must be exact). */
  async isRevoked(jti: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM auth_revoked WHERE jti = $1', [jti]);
    return (rowCount ?? 0) > 0;
  }

  /** Re-reads revocations made since the last read, at most every revocationSyncMs (0: on every request). */
  private syncRevoked(): Promise<void> {
    if (Date.now() - this.revokedSyncedAt < this.options.revocationSyncMs) return Promise.resolve();
    this.syncing ??= (async () => {
      try {
        const startedAt = Date.now();
        // a little overlap: a revocation committed with an earlier clock reading is not skipped
        const { rows } = await this.db.query<{ jti: string; revoked_ms: number }>(
          `SELECT jti, (extract(epoch FROM revoked_at) * 1000)::float8 AS revoked_ms FROM auth_revoked
            WHERE revoked_at > to_timestamp($1 / 1000.0) AND expires_at > now()`,
          [this.revokedWatermark - 5_000],
        );
        for (const r of rows) {
          this.revoked.add(r.jti);
          this.revokedWatermark = Math.max(this.revokedWatermark, r.revoked_ms);
        }
        this.revokedSyncedAt = startedAt;
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }
}
