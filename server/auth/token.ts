/**
 * The token endpoint (RFC 6749 §3.2; SMART App Launch 2.2 "obtain access token" and Backend Services): POST a
 * form, the client authenticates (clients.ts), the grant type's handler answers. Every answer carries
 * `Cache-Control: no-store`; errors are OAuth JSON errors.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { recordTokenIssued, recordTokenRefused } from '../audit/decisions';
import type { OAuthClient } from './clients';
import { OAuthError, sendOAuthError } from './errors';
import { scopesBeyondCap } from './scope-policy';
import { parseScopes } from './scopes';
import type { AuthServices } from './services';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  [extra: string]: unknown;
}

/** A grant type's handler: given the authenticated client and the form, the token response (or an OAuthError). */
export type GrantHandler = (s: AuthServices, client: OAuthClient, form: Record<string, string>, req: FastifyRequest) => Promise<TokenResponse>;

/** The form as single values; a parameter sent twice is an error (RFC 6749 §3.2). */
export function formOf(req: FastifyRequest): Record<string, string> {
  if (!req.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw new OAuthError('invalid_request', 'send the request as application/x-www-form-urlencoded');
  }
  const form: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(typeof req.body === 'string' ? req.body : '')) {
    if (k in form) throw new OAuthError('invalid_request', `parameter ${k} is repeated`);
    form[k] = v;
  }
  return form;
}

/** client_credentials (SMART Backend Services): system/ scopes within the client's cap. */
export const clientCredentials: GrantHandler = async (s, client, form) => {
  if (!client.grantTypes.includes('client_credentials')) throw new OAuthError('unauthorized_client', 'this client may not use client_credentials');
  if (client.authMethod === 'none') throw new OAuthError('unauthorized_client', 'client_credentials needs a confidential client');
  const scope = (form.scope ?? '').trim();
  if (!scope) throw new OAuthError('invalid_scope', 'scope is required (system/ scopes)');
  const { grants, other } = parseScopes(scope);
  if (other.length) throw new OAuthError('invalid_scope', `client_credentials grants system/ resource scopes only, not: ${other.join(' ')}`);
  const notSystem = grants.filter((g) => g.context !== 'system');
  if (notSystem.length)
    throw new OAuthError('invalid_scope', `client_credentials grants system/ scopes only, not: ${notSystem.map((g) => g.raw).join(' ')}`);
  const beyond = scopesBeyondCap(client.scope, scope);
  if (beyond.length) throw new OAuthError('invalid_scope', `this client may not ask for: ${beyond.join(' ')}`);
  const granted = grants.map((g) => g.raw).join(' ');
  const token = await s.tokens.issueAccessToken({ clientId: client.clientId, sub: client.clientId, scope: granted, admin: client.admin });
  return { access_token: token.access_token, token_type: 'Bearer', expires_in: token.expires_in, scope: granted };
};

/** The grant types the token endpoint knows, by `grant_type`. */
export const grantHandlers: Record<string, GrantHandler> = {
  client_credentials: clientCredentials,
};

/**
 * Grants whose request may leave its client unnamed, by `grant_type`: the client the request's token names when it
 * is a public one (SMART's refresh request for a public app carries no client_id).
 */
export const impliedClients: Record<string, (s: AuthServices, form: Record<string, string>) => Promise<string | undefined>> = {};

export function registerTokenEndpoint(app: FastifyInstance, s: AuthServices): void {
  app.post('/auth/token', async (req, reply) => {
    let form: Record<string, string> = {};
    try {
      form = formOf(req);
      const handler = form.grant_type ? grantHandlers[form.grant_type] : undefined;
      if (!form.grant_type) throw new OAuthError('invalid_request', 'grant_type is required');
      if (!handler) throw new OAuthError('unsupported_grant_type', `grant_type ${form.grant_type} is not supported`);
      const named = req.headers.authorization || form.client_id || form.client_assertion;
      const implied = named ? undefined : await impliedClients[form.grant_type]?.(s, form);
      const client = await s.clients.authenticate({ authorization: req.headers.authorization, ...form, ...(implied ? { client_id: implied } : {}) });
      const response = await handler(s, client, form, req);
      recordTokenIssued(req, client.clientId, form.grant_type, response);
      return reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(response);
    } catch (e) {
      if (e instanceof OAuthError) {
        recordTokenRefused(req, form, e.error);
        return sendOAuthError(reply, e);
      }
      throw e;
    }
  });
}
