/**
 * Authorization codes (RFC 6749 §4.1.2, RFC 7636 PKCE): single use, one minute, bound to the client, the redirect
 * URI and the S256 code challenge, stored as hashes in PostgreSQL so any worker may redeem them. A code is used
 * up by its first redemption whatever the outcome (a wrong verifier burns it); a second redemption is a replay:
 * refused, and what the first one issued is revoked (RFC 6749 §4.1.2, "SHOULD revoke").
 */
import crypto from 'node:crypto';
import type { Db } from '../database/pool';
import { jsonColumn, opaqueToken, sameSecret, secretHash } from './opaque';

export const CODE_TTL_SECONDS = 60;

/** What an authorization established, carried from the code to its tokens (and refreshes). */
export interface GrantContext {
  /** The user's FHIR resource. */
  fhirUser: string;
  patient?: string;
  encounter?: string;
  /** Standalone launches: the app shows the patient banner (an EHR already does). */
  needPatientBanner?: boolean;
  /** When the user signed in (seconds since the epoch), for the id_token's auth_time. */
  authTime: number;
  /** OpenID nonce (codes only). */
  nonce?: string;
}

export interface IssuedTokens {
  /** Access token id and expiry, to revoke it. */
  jti: string;
  exp: number;
  /** The refresh-token family started, if any. */
  family?: string;
}

export interface CodeGrant {
  clientId: string;
  redirectUri: string;
  userId: string;
  scope: string;
  codeChallenge: string;
  context: GrantContext;
}

export type Redemption =
  | { kind: 'ok'; codeHash: string; grant: CodeGrant }
  | { kind: 'invalid'; reason: string }
  /** The code was redeemed before: what it issued then must be revoked. */
  | { kind: 'replay'; issued?: IssuedTokens };

interface CodeRow {
  client_id: string;
  redirect_uri: string;
  user_id: string;
  scope: string;
  code_challenge: string;
  context: GrantContext & { issued?: IssuedTokens };
  expired: boolean;
}

/** The S256 challenge of a PKCE verifier (RFC 7636 §4.2). */
export function s256(verifier: string): string {
  return crypto.createHash('sha256').update(verifier).digest('base64url');
}

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

export class CodeStore {
  constructor(private readonly db: Db) {}

  async issue(grant: CodeGrant): Promise<string> {
    const code = opaqueToken();
    // used codes are kept a while after they expire, so a late replay is still recognised (and revokes)
    await this.db.query(`DELETE FROM auth_code WHERE expires_at < now() - interval '1 day'`);
    await this.db.query(
      `INSERT INTO auth_code (code_hash, client_id, redirect_uri, user_id, scope, code_challenge, context, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))`,
      [secretHash(code), grant.clientId, grant.redirectUri, grant.userId, grant.scope, grant.codeChallenge, grant.context, CODE_TTL_SECONDS],
    );
    return code;
  }

  /** Redeems a code at the token endpoint for `clientId` with the request's redirect_uri and code_verifier. */
  async redeem(code: string, clientId: string, redirectUri: string | undefined, verifier: string | undefined): Promise<Redemption> {
    const codeHash = secretHash(code);
    const { rows } = await this.db.query<CodeRow>(
      `UPDATE auth_code SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL
        RETURNING client_id, redirect_uri, user_id, scope, code_challenge, context, expires_at <= now() AS expired`,
      [codeHash],
    );
    const row = rows[0];
    if (!row) {
      const used = await this.db.query<{ context: CodeRow['context'] }>('SELECT context FROM auth_code WHERE code_hash = $1', [codeHash]);
      return used.rows[0]
        ? { kind: 'replay', issued: jsonColumn<CodeRow['context']>(used.rows[0].context).issued }
        : { kind: 'invalid', reason: 'unknown authorization code' };
    }
    if (row.expired) return { kind: 'invalid', reason: 'the authorization code has expired' };
    if (row.client_id !== clientId) return { kind: 'invalid', reason: 'the authorization code was issued to another client' };
    if (redirectUri !== row.redirect_uri) return { kind: 'invalid', reason: 'redirect_uri does not match the authorization request' };
    if (!verifier) return { kind: 'invalid', reason: 'code_verifier is required (PKCE)' };
    if (!VERIFIER.test(verifier) || !sameSecret(s256(verifier), row.code_challenge))
      return { kind: 'invalid', reason: 'code_verifier does not match the code_challenge' };
    return {
      kind: 'ok',
      codeHash,
      grant: {
        clientId: row.client_id,
        redirectUri: row.redirect_uri,
        userId: row.user_id,
        scope: row.scope,
        codeChallenge: row.code_challenge,
        context: jsonColumn<GrantContext>(row.context),
      },
    };
  }

  /** Remembers what a redeemed code issued, so that a replay can revoke it. */
  async recordIssued(codeHash: string, issued: IssuedTokens): Promise<void> {
    await this.db.query(`UPDATE auth_code SET context = context || jsonb_build_object('issued', $2::jsonb) WHERE code_hash = $1`, [codeHash, issued]);
  }
}
