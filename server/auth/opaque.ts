/**
 * Opaque secrets of the authorization flow (request ids, CSRF tokens, codes, refresh tokens, launch ids): random,
 * URL-safe, and stored only as their SHA-256, so a read of the database does not hand out live credentials.
 */
import crypto from 'node:crypto';

/** A new random secret, base64url (256 bits by default). */
export function opaqueToken(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** What is stored for a secret: its SHA-256, base64url. */
export function secretHash(secret: string): string {
  return crypto.createHash('sha256').update(secret).digest('base64url');
}

/** A json/jsonb column's value (the pool hands them over as text, database/pool.ts). */
export function jsonColumn<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** Constant-time equality of two strings (CSRF tokens, PKCE). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}
