/**
 * Sign-in sessions (single sign-on across authorizations): after a person signs in on the authorization pages,
 * their browser keeps a session cookie for `AROGYA_SIGNIN_SESSION_SECONDS`, and the next authorization from that
 * browser goes straight to the patient picker or consent (or back to the app, when its consent is remembered) —
 * as an EHR's SMART apps expect when a clinician opens one chart after another. The session lives in PostgreSQL
 * (any worker answers), keyed by the hash of the cookie's random value; signing in again replaces it, signing out
 * (`/auth/logout`) ends it.
 */
import type { Db } from '../database/pool';
import { opaqueToken, secretHash } from './opaque';

export interface SignInSession {
  userId: string;
  /** When the person signed in (seconds since the epoch): the id_token's `auth_time`, and what `max_age` checks. */
  authTime: number;
}

/** The session cookie's name (one per browser). */
export const SESSION_COOKIE = 'arogya_session';

export class SessionStore {
  constructor(
    private readonly db: Db,
    /** A session's life (seconds); 0: no sessions, every authorization signs in. */
    readonly ttlSeconds: number,
  ) {}

  /** A new session for a sign-in that just happened; returns the cookie's value. `replaces`: the browser's old one. */
  async create(userId: string, authTime: number, replaces?: string): Promise<string> {
    const id = opaqueToken();
    // expired sessions go as new ones come
    await this.db.query('DELETE FROM auth_session WHERE expires_at < now() OR id_hash = $1', [replaces ? secretHash(replaces) : '']);
    await this.db.query(
      `INSERT INTO auth_session (id_hash, user_id, auth_time, expires_at)
       VALUES ($1, $2, to_timestamp($3), now() + make_interval(secs => $4))`,
      [secretHash(id), userId, authTime, this.ttlSeconds],
    );
    return id;
  }

  /** The live session this cookie value names; undefined when unknown, ended or expired. */
  async find(id: string | undefined): Promise<SignInSession | undefined> {
    if (!id || this.ttlSeconds === 0) return undefined;
    const { rows } = await this.db.query<{ user_id: string; auth_time: number }>(
      'SELECT user_id, extract(epoch FROM auth_time)::bigint::int AS auth_time FROM auth_session WHERE id_hash = $1 AND expires_at > now()',
      [secretHash(id)],
    );
    return rows[0] ? { userId: rows[0].user_id, authTime: Number(rows[0].auth_time) } : undefined;
  }

  /** Ends the session this cookie value names (sign-out). */
  async end(id: string | undefined): Promise<void> {
    if (id) await this.db.query('DELETE FROM auth_session WHERE id_hash = $1', [secretHash(id)]);
  }
}
