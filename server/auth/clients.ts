/**
 * OAuth clients: the store (auth_client) and client authentication at the token, introspection and revocation
 * endpoints — `client_secret_basic` (RFC 6749 §2.3.1), `private_key_jwt` (RFC 7523, SMART Backend Services: RS384
 * or ES384, JWKS inline or by URL, `jti` accepted once, `exp` at most 5 minutes ahead, `aud` = the token endpoint)
 * and `none` for public clients (the client_id alone).
 */
import crypto from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { Pool } from '../database/pool';
import { OAuthError } from './errors';
import { jsonColumn, opaqueToken, sameSecret, secretHash } from './opaque';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'private_key_jwt';

export interface OAuthClient {
  clientId: string;
  clientName?: string;
  authMethod: ClientAuthMethod;
  redirectUris: string[];
  grantTypes: string[];
  /** The scopes the client may ask for (a cap; wildcards cover specific scopes); undefined: the default cap. */
  scope?: string;
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  launchUri?: string;
  admin: boolean;
}

interface ClientRow {
  client_id: string;
  client_name: string | null;
  secret_hash: string | null;
  auth_method: ClientAuthMethod;
  redirect_uris: string[];
  grant_types: string[];
  scope: string | null;
  jwks: JSONWebKeySet | null;
  jwks_uri: string | null;
  launch_uri: string | null;
  admin: boolean;
}

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Signing algorithms accepted in client assertions (SMART Backend Services). */
export const ASSERTION_ALGS = ['RS384', 'ES384'];
const MAX_ASSERTION_LIFETIME_S = 300;
const CLOCK_SKEW_S = 30;

function fromRow(r: ClientRow): OAuthClient & { secretHash?: string } {
  return {
    clientId: r.client_id,
    clientName: r.client_name ?? undefined,
    authMethod: r.auth_method,
    redirectUris: r.redirect_uris,
    grantTypes: r.grant_types,
    scope: r.scope ?? undefined,
    jwks: r.jwks ? jsonColumn(r.jwks) : undefined,
    jwksUri: r.jwks_uri ?? undefined,
    launchUri: r.launch_uri ?? undefined,
    admin: r.admin,
    secretHash: r.secret_hash ?? undefined,
  };
}

/** The parts of a token-endpoint request that authenticate a client. */
export interface ClientCredentials {
  authorization?: string;
  client_id?: string;
  client_secret?: string;
  client_assertion_type?: string;
  client_assertion?: string;
}

export class ClientStore {
  private readonly remoteJwks = new Map<string, JWTVerifyGetKey>();

  constructor(
    private readonly db: Pool,
    /** The token endpoint's URL: the `aud` of client assertions. */
    private readonly tokenEndpoint: string,
  ) {}

  async find(clientId: string): Promise<(OAuthClient & { secretHash?: string }) | undefined> {
    const { rows } = await this.db.query<ClientRow>('SELECT * FROM auth_client WHERE client_id = $1', [clientId]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Stores a new client; returns it with its secret for client_secret_basic (shown once, stored hashed). */
  async create(c: Omit<OAuthClient, 'clientId'> & { clientId?: string }): Promise<{ client: OAuthClient; secret?: string }> {
    const clientId = c.clientId ?? crypto.randomUUID();
    // client secrets are random 256-bit values: their SHA-256 is as strong as a slow hash for them
    const secret = c.authMethod === 'client_secret_basic' ? opaqueToken() : undefined;
    await this.db.query(
      `INSERT INTO auth_client (client_id, client_name, secret_hash, auth_method, redirect_uris, grant_types, scope, jwks, jwks_uri, launch_uri, admin)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        clientId,
        c.clientName ?? null,
        secret ? secretHash(secret) : null,
        c.authMethod,
        c.redirectUris,
        c.grantTypes,
        c.scope ?? null,
        c.jwks ?? null,
        c.jwksUri ?? null,
        c.launchUri ?? null,
        c.admin,
      ],
    );
    return { client: { ...c, clientId }, secret };
  }

  /**
   * Creates or replaces a client the server itself owns (its own apps, registered at every start-up): its metadata
   * is the server's, so a restart after an upgrade brings it up to date. Never for clients with a secret.
   */
  async upsertOwn(c: OAuthClient): Promise<void> {
    if (c.authMethod === 'client_secret_basic') throw new Error('upsertOwn is for public or key-authenticated clients');
    await this.db.query(
      `INSERT INTO auth_client (client_id, client_name, secret_hash, auth_method, redirect_uris, grant_types, scope, jwks, jwks_uri, launch_uri, admin)
       VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (client_id) DO UPDATE SET client_name = EXCLUDED.client_name, secret_hash = NULL, auth_method = EXCLUDED.auth_method,
         redirect_uris = EXCLUDED.redirect_uris, grant_types = EXCLUDED.grant_types, scope = EXCLUDED.scope, jwks = EXCLUDED.jwks,
         jwks_uri = EXCLUDED.jwks_uri, launch_uri = EXCLUDED.launch_uri, admin = EXCLUDED.admin`,
      [
        c.clientId,
        c.clientName ?? null,
        c.authMethod,
        c.redirectUris,
        c.grantTypes,
        c.scope ?? null,
        c.jwks ?? null,
        c.jwksUri ?? null,
        c.launchUri ?? null,
        c.admin,
      ],
    );
  }

  /**
   * The client a request authenticates as. A request naming no client → invalid_client; a confidential client
   * must prove itself with its registered method; a public client (`none`) names itself with client_id.
   */
  async authenticate(creds: ClientCredentials): Promise<OAuthClient> {
    const basic = parseBasic(creds.authorization);
    if (basic) {
      if (creds.client_assertion) throw new OAuthError('invalid_request', 'use one client authentication method, not two');
      const client = await this.find(basic.id);
      if (client?.authMethod !== 'client_secret_basic' || !client.secretHash || !sameSecret(client.secretHash, secretHash(basic.secret))) {
        throw new OAuthError('invalid_client', 'client authentication failed', 401);
      }
      return client;
    }
    if (creds.client_secret)
      throw new OAuthError('invalid_client', 'send the client secret with HTTP Basic authentication (client_secret_basic)', 401);
    if (creds.client_assertion_type !== undefined || creds.client_assertion !== undefined) return this.assertion(creds);
    if (!creds.client_id) throw new OAuthError('invalid_client', 'the request names no client (client_id, Basic or a client assertion)', 401);
    const client = await this.find(creds.client_id);
    if (!client) throw new OAuthError('invalid_client', 'unknown client', 401);
    if (client.authMethod !== 'none') throw new OAuthError('invalid_client', `this client must authenticate (${client.authMethod})`, 401);
    return client;
  }

  /** private_key_jwt: a client assertion signed with a key of the client's JWKS. */
  private async assertion(creds: ClientCredentials): Promise<OAuthClient> {
    if (creds.client_assertion_type !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError('invalid_client', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`, 401);
    }
    const assertion = creds.client_assertion ?? '';
    let alg: string | undefined;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(assertion).alg;
      iss = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')).iss;
    } catch {
      throw new OAuthError('invalid_client', 'client_assertion is not a JWT', 401);
    }
    if (!alg || !ASSERTION_ALGS.includes(alg))
      throw new OAuthError('invalid_client', `client_assertion must be signed with ${ASSERTION_ALGS.join(' or ')}`, 401);
    if (typeof iss !== 'string') throw new OAuthError('invalid_client', 'client_assertion has no iss', 401);
    const client = await this.find(iss);
    if (client?.authMethod !== 'private_key_jwt') throw new OAuthError('invalid_client', 'unknown client or not a private_key_jwt client', 401);
    if (creds.client_id && creds.client_id !== client.clientId) throw new OAuthError('invalid_client', 'client_id does not match the assertion', 401);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(assertion, this.keySet(client), {
        algorithms: ASSERTION_ALGS,
        issuer: client.clientId,
        subject: client.clientId,
        audience: this.tokenEndpoint,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: CLOCK_SKEW_S,
      }));
    } catch {
      throw new OAuthError('invalid_client', 'client_assertion is not valid (signature, iss, sub, aud = the token endpoint, exp, jti)', 401);
    }
    const now = Math.floor(Date.now() / 1000);
    if (payload.exp! > now + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) {
      throw new OAuthError('invalid_client', `client_assertion exp may be at most ${MAX_ASSERTION_LIFETIME_S} s in the future`, 401);
    }
    // each jti once per client while it could still be valid (a replay is refused, whichever worker sees it)
    await this.db.query("DELETE FROM auth_jti WHERE expires_at < now() - interval '1 minute'");
    const { rowCount } = await this.db.query(
      'INSERT INTO auth_jti (client_id, jti, expires_at) VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING',
      [client.clientId, payload.jti, payload.exp! + CLOCK_SKEW_S],
    );
    if (!rowCount) throw new OAuthError('invalid_client', 'client_assertion jti has been used before', 401);
    return client;
  }

  private keySet(client: OAuthClient): JWTVerifyGetKey {
    if (client.jwks) return createLocalJWKSet(client.jwks);
    if (client.jwksUri) {
      let set = this.remoteJwks.get(client.jwksUri);
      if (!set) {
        set = createRemoteJWKSet(new URL(client.jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
        this.remoteJwks.set(client.jwksUri, set);
      }
      return set;
    }
    throw new OAuthError('invalid_client', 'the client has no JWKS', 401);
  }
}

/** `Authorization: Basic base64(urlencoded id ":" urlencoded secret)` (RFC 6749 §2.3.1). */
export function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}
