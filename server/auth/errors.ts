/**
 * OAuth 2.0 errors (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 6750 §3) as the authorization server answers them: JSON
 * `{ error, error_description }`, never an OperationOutcome (OAuth clients read these fields).
 */
import type { FastifyReply } from 'fastify';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'access_denied'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'unsupported_token_type';

export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

export function sendOAuthError(reply: FastifyReply, e: OAuthError): FastifyReply {
  // invalid_client with client authentication by the Authorization header answers 401 + WWW-Authenticate (§5.2)
  if (e.status === 401) reply.header('WWW-Authenticate', e.error === 'invalid_client' ? 'Basic realm="arogya"' : 'Bearer realm="arogya"');
  return reply
    .code(e.status)
    .header('Cache-Control', 'no-store')
    .header('Pragma', 'no-cache')
    .send({ error: e.error, error_description: e.description });
}
