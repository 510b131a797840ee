/**
 * The people who sign in at the authorization endpoint (DESIGN.md §1.1 "users"): a username, a password hashed
 * with argon2id (memory-hard), and the FHIR resource the user is (`fhirUser`). A user may also be reached through
 * the upstream OpenID provider by the issuer + subject recorded on the user (oidc.ts); nobody is ever created by
 * signing in. Created by `POST /auth/users` (admin token) or `npx arogya user add`.
 */
import crypto from 'node:crypto';
import { type Algorithm, hash, verify } from '@node-rs/argon2';
import type { Db } from '../database/pool';

export interface AuthUser {
  id: string;
  username: string;
  /** `Practitioner/…`, `Patient/…` or `RelatedPerson/…`. */
  fhirUser: string;
  oidcIssuer?: string;
  oidcSubject?: string;
}

export interface NewUser {
  username: string;
  password?: string;
  fhirUser: string;
  oidcIssuer?: string;
  oidcSubject?: string;
}

export class UserInputError extends Error {}
export class DuplicateUserError extends Error {}

const FHIR_USER = /^(Practitioner|Patient|RelatedPerson)\/[A-Za-z0-9\-.]{1,64}$/;
const USERNAME = /^[^\s\p{C}]{1,200}$/u;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;
/** argon2id (the package's default algorithm, spelled out) with its default cost: 19 MiB, 2 passes. */
const ARGON2ID = 2 as Algorithm;

/** A hash of a password nobody has, verified when the username is unknown so both cases take the same time. */
let decoyHash: Promise<string> | undefined;

interface UserRow {
  id: string;
  username: string;
  fhir_user: string;
  password_hash: string | null;
  oidc_issuer: string | null;
  oidc_subject: string | null;
}

function toUser(r: UserRow): AuthUser {
  return {
    id: r.id,
    username: r.username,
    fhirUser: r.fhir_user,
    ...(r.oidc_issuer ? { oidcIssuer: r.oidc_issuer } : {}),
    ...(r.oidc_subject ? { oidcSubject: r.oidc_subject } : {}),
  };
}

/** Checks a new user's fields; throws UserInputError with a message fit for the caller. */
export function validateNewUser(u: Partial<Record<keyof NewUser, unknown>>): NewUser {
  if (typeof u.username !== 'string' || !USERNAME.test(u.username)) throw new UserInputError('username: 1 to 200 characters without spaces');
  if (typeof u.fhirUser !== 'string' || !FHIR_USER.test(u.fhirUser))
    throw new UserInputError('fhirUser: a reference Practitioner/id, Patient/id or RelatedPerson/id');
  const oidc = u.oidcIssuer !== undefined || u.oidcSubject !== undefined;
  if (oidc && (typeof u.oidcIssuer !== 'string' || typeof u.oidcSubject !== 'string' || !u.oidcIssuer || !u.oidcSubject))
    throw new UserInputError('oidcIssuer and oidcSubject: both strings, or neither');
  if (u.password !== undefined || !oidc) {
    if (typeof u.password !== 'string' || u.password.length < MIN_PASSWORD || u.password.length > MAX_PASSWORD)
      throw new UserInputError(`password: ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`);
  }
  return {
    username: u.username,
    fhirUser: u.fhirUser,
    ...(typeof u.password === 'string' ? { password: u.password } : {}),
    ...(oidc ? { oidcIssuer: u.oidcIssuer as string, oidcSubject: u.oidcSubject as string } : {}),
  };
}

export class UserStore {
  constructor(private readonly db: Db) {}

  /** Creates a user (fields checked by validateNewUser); DuplicateUserError when the username or identity is taken. */
  async create(input: Partial<Record<keyof NewUser, unknown>>): Promise<AuthUser> {
    const u = validateNewUser(input);
    const passwordHash = u.password === undefined ? null : await hash(u.password, { algorithm: ARGON2ID });
    try {
      const { rows } = await this.db.query<UserRow>(
        `INSERT INTO auth_user (id, username, password_hash, fhir_user, oidc_issuer, oidc_subject) VALUES ($1, $2, $3, $4, $5, $6)
          RETURNING id, username, fhir_user, password_hash, oidc_issuer, oidc_subject`,
        [crypto.randomUUID(), u.username, passwordHash, u.fhirUser, u.oidcIssuer ?? null, u.oidcSubject ?? null],
      );
      return toUser(rows[0]);
    } catch (e) {
      if ((e as { code?: string }).code === '23505') throw new DuplicateUserError('a user with this username or upstream identity exists');
      throw e;
    }
  }

  async byId(id: string): Promise<AuthUser | undefined> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM auth_user WHERE id = $1', [id]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  /**
   * The user with this username and password; undefined otherwise. An unknown username costs the same argon2
   * verification as a wrong password, so timing does not tell which usernames exist.
   */
  async verifyPassword(username: string, password: string): Promise<AuthUser | undefined> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM auth_user WHERE username = $1', [username]);
    const row = rows[0];
    decoyHash ??= hash(crypto.randomBytes(16).toString('hex'), { algorithm: ARGON2ID });
    const stored = row?.password_hash ?? (await decoyHash);
    const ok = await verify(stored, password.slice(0, MAX_PASSWORD)).catch(() => false);
    return ok && row?.password_hash ? toUser(row) : undefined;
  }

  /** The user recorded with this upstream issuer and subject. */
  async byOidcIdentity(issuer: string, subject: string): Promise<AuthUser | undefined> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM auth_user WHERE oidc_issuer = $1 AND oidc_subject = $2', [issuer, subject]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  /** The one user whose username is this e-mail address (case-insensitive); undefined when none or several. */
  async byEmailUsername(email: string): Promise<AuthUser | undefined> {
    const { rows } = await this.db.query<UserRow>('SELECT * FROM auth_user WHERE lower(username) = lower($1) LIMIT 2', [email]);
    return rows.length === 1 ? toUser(rows[0]) : undefined;
  }
}
