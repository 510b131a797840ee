/**
 * What a verified access token says about the caller of one request (`req.auth`): the resource server's view of
 * the token. Built by tokens.ts from the JWT's claims; turned into the repository's Caller by rest/caller.ts.
 */
import type { ScopeGrant } from './scopes';

export interface AuthContext {
  /** The token's id (`jti`), for revocation and audit. */
  jti: string;
  /** The client the token was issued to. */
  clientId: string;
  /** The subject: the user's id, or the client id for client_credentials. */
  sub: string;
  /** The granted scopes as issued. */
  scope: string;
  grants: ScopeGrant[];
  /** Launch context. */
  patient?: string;
  encounter?: string;
  /** The signed-in user's FHIR resource (`Practitioner/…`, `Patient/…`, `RelatedPerson/…`). */
  fhirUser?: string;
  /** The token of an admin client: may also call the admin API (/auth/register, /auth/users, /auth/launch). */
  admin: boolean;
  /** Expiry (seconds since the epoch). */
  exp: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified bearer token of this request; null without one (public paths, or AROGYA_AUTH=off). */
    auth: AuthContext | null;
  }
}
