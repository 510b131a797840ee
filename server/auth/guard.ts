/**
 * The resource server's gate (RFC 6750): every request under the FHIR base, except the public metadata, must
 * carry a valid bearer token; the verified token becomes `req.auth`. Missing, malformed, forged, expired or
 * revoked tokens → 401 with `WWW-Authenticate: Bearer` and an OperationOutcome. What a valid token may do is
 * decided later, as the repository's access predicate (access.ts) and the interaction's scope check.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { OperationOutcomeError, issue } from '../fhir/outcome';
import type { AuthContext } from './context';
import { InvalidTokenError, type TokenService } from './tokens';

/** Paths under the FHIR base anyone may read (DESIGN.md §1.1 "public without a token"). */
const PUBLIC_FHIR_PATHS = new Set(['/metadata', '/.well-known/smart-configuration']);

function challenge(error?: string, description?: string): string {
  const parts = ['realm="arogya"'];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  return `Bearer ${parts.join(', ')}`;
}

export function unauthorized(description: string, error?: 'invalid_token' | 'invalid_request'): OperationOutcomeError {
  return new OperationOutcomeError(401, [issue('error', 'login', description)], {
    'WWW-Authenticate': challenge(error, error ? description : undefined),
  });
}

/** The bearer token of a request (RFC 6750 §2.1), undefined when there is no Authorization header. */
export function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h);
  if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_request');
  return m[1];
}

/** Verifies the request's bearer token; 401 without a valid one. */
export async function authenticate(tokens: TokenService, req: FastifyRequest): Promise<AuthContext> {
  const token = bearerOf(req);
  if (!token) throw unauthorized('this endpoint needs an access token (Authorization: Bearer)');
  try {
    return await tokens.verifyAccessToken(token);
  } catch (e) {
    if (e instanceof InvalidTokenError) throw unauthorized(e.message, 'invalid_token');
    throw e;
  }
}

/**
 * The onRequest hook of the FHIR base. Callback-style, so that a token verified before (tokens.ts cache) costs
 * a map look-up and no promise: that is every request but a token's first (and one a second, when the revocation
 * list is re-read).
 */
export function fhirGuard(tokens: TokenService, prefix: string) {
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (req.method === 'OPTIONS') {
      done();
      return;
    }
    const url = req.url;
    if (url.includes('/metadata') || url.includes('/.well-known/')) {
      const q = url.indexOf('?');
      if (PUBLIC_FHIR_PATHS.has((q < 0 ? url : url.slice(0, q)).slice(prefix.length).replace(/\/+$/, ''))) {
        done();
        return;
      }
    }
    // The fast lane: "Bearer <a token in the cache>" (only a token that matched bearerOf's syntax is ever cached).
    const h = req.headers.authorization;
    if (h?.startsWith('Bearer ')) {
      const known = tokens.cachedAccessToken(h.slice(7));
      if (known) {
        req.auth = known;
        done();
        return;
      }
    }
    authenticate(tokens, req).then((auth) => {
      req.auth = auth;
      done();
    }, done);
  };
}
