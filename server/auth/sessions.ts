/**
 * Sign-in sessions (single sign-on across authorizations): after a person signs in on the authorization pages,
 * their browser keeps a session cookie for `AROGYA_SIGNIN_SESSION_SECONDS`, and the next authorization from that
 * browser goes straight to the patient picker or consent (or back to the app, when its consent is remembered) —
 * as an EHR's SMART apps expect when a clinician opens one chart after another. The session lives in PostgreSQL
 * (any worker answers), keyed by the hash of the cookie's random value; signing in again replaces it, signing out
 * (`/auth/logout`) ends it. The account page (`/auth/account`, account.ts) lists what the person allowed apps and
 * withdraws it.
 */
import type { Db } from '../database/pool';
import type { FastifyReply } from 'fastify';
import { opaqueToken, secretHash } from './opaque';
import { type CookieScope, setCookie } from './page-http';

export interface SignInSession {
  userId: string;
  /** When the person signed in (seconds since the epoch): the id_token's `auth_time`, and what `max_age` checks. */
  authTime: number;
  /** The CSRF token of the session's own forms (the account page). */
  csrf: string;
}

/** The session cookie's name (one per browser). */
export const SESSION_COOKIE = 'arogya_session';

/** The browser's session cookie: set for `maxAge` seconds, or cleared (0). */
export function setSessionCookie(scope: CookieScope, reply: FastifyReply, value: string, maxAge: number): void {
  setCookie(reply, scope, SESSION_COOKIE, value, maxAge);
}

export class SessionStore {
  constructor(
    private readonly db: Db,
    /** A session's life (seconds); 0: authorizations keep no session and always sign in. */
    readonly ttlSeconds: number,
  ) {}

  /**
   * A new session for a sign-in that just happened; returns the cookie's value. `replaces`: the browser's old one.
   * `ttlSeconds`: its life, when not the configured one (the account page's sign-in when sessions are off).
   */
  async create(userId: string, authTime: number, replaces?: string, ttlSeconds = this.ttlSeconds): Promise<string> {
    const id = opaqueToken();
    // expired sessions go as new ones come
    await this.db.query('DELETE FROM auth_session WHERE expires_at < now() OR id_hash = $1', [replaces ? secretHash(replaces) : '']);
    await this.db.query(
      `INSERT INTO auth_session (id_hash, user_id, auth_time, csrf, expires_at)
       VALUES ($1, $2, to_timestamp($3), $4, now() + make_interval(secs => $5))`,
      [secretHash(id), userId, authTime, opaqueToken(), ttlSeconds],
    );
    return id;
  }

  /** The live session this cookie value names; undefined when unknown, ended or expired. */
  async find(id: string | undefined): Promise<SignInSession | undefined> {
    if (!id) return undefined;
    const { rows } = await this.db.query<{ user_id: string; auth_time: number; csrf: string }>(
      'SELECT user_id, extract(epoch FROM auth_time)::bigint::int AS auth_time, csrf FROM auth_session WHERE id_hash = $1 AND expires_at > now()',
      [secretHash(id)],
    );
    const r = rows[0];
    return r ? { userId: r.user_id, authTime: Number(r.auth_time), csrf: r.csrf } : undefined;
  }

  /** Ends the session this cookie value names (sign-out). */
  async end(id: string | undefined): Promise<void> {
    if (id) await this.db.query('DELETE FROM auth_session WHERE id_hash = $1', [secretHash(id)]);
  }
}
