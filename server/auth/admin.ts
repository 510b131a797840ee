/**
 * The admin API's gate (DESIGN.md §1.1 "admin paths"): /auth/register, /auth/users and /auth/launch take a bearer
 * token; registration and users need an admin client's token (403 otherwise). Errors are OAuth-style JSON.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthContext } from './context';
import { OAuthError } from './errors';
import { authenticate } from './guard';
import { OperationOutcomeError } from '../fhir/outcome';
import type { AuthServices } from './services';

/** The verified bearer token of an /auth request (guard.ts): 401 invalid_token without a valid one. */
export async function bearerAuth(s: AuthServices, req: FastifyRequest): Promise<AuthContext> {
  try {
    return await authenticate(s.tokens, req);
  } catch (e) {
    if (e instanceof OperationOutcomeError)
      throw new OAuthError('invalid_token', 'this endpoint needs a valid access token (Authorization: Bearer)', 401);
    throw e;
  }
}

/** The JSON body of an admin request (Content-Type application/json), or invalid_request. */
export function jsonBody(req: FastifyRequest): unknown {
  if (
    !String(req.headers['content-type'] ?? '')
      .toLowerCase()
      .startsWith('application/json')
  ) {
    throw new OAuthError('invalid_request', 'send a JSON body (Content-Type: application/json)');
  }
  try {
    return typeof req.body === 'string' ? JSON.parse(req.body) : req.body;
  } catch {
    throw new OAuthError('invalid_request', 'the body is not valid JSON');
  }
}

/** An admin client's token, or 401/403. */
export async function adminAuth(s: AuthServices, req: FastifyRequest): Promise<AuthContext> {
  const auth = await bearerAuth(s, req);
  if (!auth.admin) throw new OAuthError('insufficient_scope', 'this endpoint needs an admin client’s token', 403);
  return auth;
}
