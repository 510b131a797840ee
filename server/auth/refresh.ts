/**
 * Refresh tokens (RFC 6749 §6, SMART `offline_access`/`online_access`) with rotation: each use returns a new
 * refresh token and uses up the old one. All tokens descended from one authorization form a family; presenting a
 * used one again means two parties hold it (a theft), so the whole family is revoked, and with it the access
 * tokens the family issued (OAuth 2.0 Security BCP §4.14). Stored as hashes in PostgreSQL; the row lock makes two
 * concurrent uses of the same token one success and one reuse, whichever workers take them.
 */
import crypto from 'node:crypto';
import { inTransaction, type Db, type Pool } from '../database/pool';
import type { GrantContext } from './codes';
import { jsonColumn, opaqueToken, secretHash } from './opaque';

/** `offline_access`: lives until unused this long; `online_access`: a working day. */
export const OFFLINE_TTL_SECONDS = 90 * 24 * 3600;
export const ONLINE_TTL_SECONDS = 12 * 3600;

export interface RefreshGrant {
  familyId: string;
  clientId: string;
  userId: string;
  /** The scope of the authorization: what every refresh may ask for at most. */
  scope: string;
  context: GrantContext;
}

/** An access token a refresh token's use issued: revoked with the family. */
export interface IssuedAccess {
  jti: string;
  exp: number;
}

export type RefreshUse =
  | { kind: 'ok'; grant: RefreshGrant }
  | { kind: 'invalid'; reason: string }
  /** A used or revoked token presented again: its family is revoked; these access tokens must be revoked too. */
  | { kind: 'reuse'; accessTokens: IssuedAccess[] };

interface RefreshRow {
  family_id: string;
  client_id: string;
  user_id: string;
  scope: string;
  context: GrantContext & { access?: IssuedAccess };
  expired: boolean;
  used_at: Date | null;
  revoked_at: Date | null;
}

/** The refresh lifetime a scope asks for; undefined when it asks for none. */
export function refreshTtl(scope: string): number | undefined {
  const scopes = scope.split(/\s+/);
  if (scopes.includes('offline_access')) return OFFLINE_TTL_SECONDS;
  if (scopes.includes('online_access')) return ONLINE_TTL_SECONDS;
  return undefined;
}

/** The access tokens recorded on a family's rows. */
function accessOf(rows: { access: unknown }[]): IssuedAccess[] {
  return rows.flatMap((r) => (r.access ? [jsonColumn<IssuedAccess>(r.access)] : []));
}

export class RefreshStore {
  constructor(private readonly pool: Pool) {}

  /** A new refresh token in `grant.familyId` (a new family: crypto.randomUUID()), with the access token issued beside it. */
  async issue(grant: RefreshGrant, ttlSeconds: number, access: IssuedAccess): Promise<string> {
    const token = opaqueToken();
    // expired tokens go as new ones come (a day late: a late reuse still finds its family)
    await this.pool.query(`DELETE FROM auth_refresh WHERE expires_at < now() - interval '1 day'`);
    await this.pool.query(
      `INSERT INTO auth_refresh (token_hash, family_id, client_id, user_id, scope, context, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
      [secretHash(token), grant.familyId, grant.clientId, grant.userId, grant.scope, { ...grant.context, access }, ttlSeconds],
    );
    return token;
  }

  /**
   * Uses a refresh token presented by `clientId` (rotation: it cannot be used again). `check` may refuse the
   * request (by throwing) before the token is used up, e.g. a scope wider than the grant.
   */
  use(token: string, clientId: string, check?: (grant: RefreshGrant) => void): Promise<RefreshUse> {
    return inTransaction(this.pool, async (db) => {
      const { rows } = await db.query<RefreshRow>(
        `SELECT family_id, client_id, user_id, scope, context, used_at, revoked_at, expires_at <= now() AS expired
           FROM auth_refresh WHERE token_hash = $1 FOR UPDATE`,
        [secretHash(token)],
      );
      const row = rows[0];
      if (!row) return { kind: 'invalid', reason: 'unknown refresh token' };
      if (row.client_id !== clientId) return { kind: 'invalid', reason: 'the refresh token was issued to another client' };
      if (row.used_at || row.revoked_at) {
        const family = await db.query<{ access: unknown }>(
          `UPDATE auth_refresh SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = $1 RETURNING context->'access' AS access`,
          [row.family_id],
        );
        const now = Date.now() / 1000;
        return { kind: 'reuse', accessTokens: accessOf(family.rows).filter((a) => a.exp > now) };
      }
      if (row.expired) return { kind: 'invalid', reason: 'the refresh token has expired' };
      const { access: _access, ...context } = jsonColumn<RefreshRow['context']>(row.context);
      const grant: RefreshGrant = { familyId: row.family_id, clientId: row.client_id, userId: row.user_id, scope: row.scope, context };
      check?.(grant);
      await db.query('UPDATE auth_refresh SET used_at = now() WHERE token_hash = $1', [secretHash(token)]);
      return { kind: 'ok', grant };
    });
  }

  /** Revokes every family a user's authorizations gave a client (the user withdrew the app's access). */
  async revokeUserClient(userId: string, clientId: string): Promise<IssuedAccess[]> {
    const { rows } = await this.pool.query<{ access: unknown }>(
      `UPDATE auth_refresh SET revoked_at = coalesce(revoked_at, now()) WHERE user_id = $1 AND client_id = $2 RETURNING context->'access' AS access`,
      [userId, clientId],
    );
    return accessOf(rows);
  }

  /** Revokes a family (a replayed code's tokens, RFC 7009 revocation of one of its tokens). */
  async revokeFamily(familyId: string): Promise<IssuedAccess[]> {
    const { rows } = await this.pool.query<{ access: unknown }>(
      `UPDATE auth_refresh SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = $1 RETURNING context->'access' AS access`,
      [familyId],
    );
    return accessOf(rows);
  }
}

/** The public client (auth method `none`) a refresh token was issued to; undefined for any other token. */
export async function publicClientOfRefreshToken(db: Db, token: string): Promise<string | undefined> {
  const { rows } = await db.query<{ client_id: string }>(
    `SELECT r.client_id FROM auth_refresh r JOIN auth_client c ON c.client_id = r.client_id WHERE r.token_hash = $1 AND c.auth_method = 'none'`,
    [secretHash(token)],
  );
  return rows[0]?.client_id;
}

export const newFamilyId = (): string => crypto.randomUUID();
