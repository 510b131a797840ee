/**
 * Dynamic client registration (RFC 7591) with an admin client's bearer token (DESIGN.md §1.1): `POST
 * /auth/register` with the client's metadata → 201 with `client_id` (and `client_secret` for
 * `client_secret_basic`, shown once). Metadata is checked before anything is stored; a bad field answers
 * `invalid_client_metadata` or `invalid_redirect_uri` naming it.
 */
import type { FastifyInstance } from 'fastify';
import type { JSONWebKeySet } from 'jose';
import { adminAuth, jsonBody } from './admin';
import type { ClientAuthMethod } from './clients';
import { OAuthError, sendOAuthError } from './errors';
import { parseScopes } from './scopes';
import type { AuthServices } from './services';

const GRANTS = ['authorization_code', 'refresh_token', 'client_credentials'];
const METHODS: ClientAuthMethod[] = ['none', 'client_secret_basic', 'private_key_jwt'];

const bad = (d: string) => new OAuthError('invalid_client_metadata', d);

function absoluteUrl(v: unknown, field: string, redirect = false): string {
  const err = (d: string) => (redirect ? new OAuthError('invalid_redirect_uri', d) : bad(d));
  if (typeof v !== 'string') throw err(`${field} must be a string URL`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw err(`${field}: "${v}" is not an absolute URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw err(`${field}: "${v}" must be an http(s) URL`);
  if (redirect && u.hash) throw err(`${field}: "${v}" may not have a fragment (RFC 6749 §3.1.2)`);
  return v;
}

function stringList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`${field} must be an array of strings`);
  return v as string[];
}

function checkJwks(v: unknown): JSONWebKeySet {
  const keys = (v as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== 'object' || k === null || typeof k.kty !== 'string')) {
    throw bad('jwks must be a JWK Set: { "keys": [ { "kty": … }, … ] }');
  }
  if (keys.some((k) => 'd' in k)) throw bad('jwks must hold public keys only');
  return v as JSONWebKeySet;
}

export interface Registration {
  clientName?: string;
  redirectUris: string[];
  grantTypes: string[];
  authMethod: ClientAuthMethod;
  scope?: string;
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  launchUri?: string;
}

/** RFC 7591 metadata → a registration, or an OAuthError naming the bad field. */
export function parseRegistration(body: unknown): Registration {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object of client metadata');
  const m = body as Record<string, unknown>;
  const grantTypes = m.grant_types === undefined ? ['authorization_code'] : stringList(m.grant_types, 'grant_types');
  for (const g of grantTypes) if (!GRANTS.includes(g)) throw bad(`grant_types: ${g} is not supported (${GRANTS.join(', ')})`);
  const authMethod = (m.token_endpoint_auth_method ?? 'client_secret_basic') as ClientAuthMethod;
  if (!METHODS.includes(authMethod)) throw bad(`token_endpoint_auth_method must be one of ${METHODS.join(', ')}`);
  const redirectUris =
    m.redirect_uris === undefined ? [] : stringList(m.redirect_uris, 'redirect_uris').map((u) => absoluteUrl(u, 'redirect_uris', true));
  if (grantTypes.includes('authorization_code') && redirectUris.length === 0) {
    throw new OAuthError('invalid_redirect_uri', 'redirect_uris is required for the authorization_code grant');
  }
  if (grantTypes.includes('client_credentials') && authMethod === 'none')
    throw bad('client_credentials needs a confidential client (not token_endpoint_auth_method none)');
  if (m.response_types !== undefined) {
    const rt = stringList(m.response_types, 'response_types');
    if (rt.some((t) => t !== 'code')) throw bad('response_types may only hold "code"');
  }
  let jwks: JSONWebKeySet | undefined;
  let jwksUri: string | undefined;
  if (m.jwks !== undefined && m.jwks_uri !== undefined) throw bad('give jwks or jwks_uri, not both');
  if (m.jwks !== undefined) jwks = checkJwks(m.jwks);
  if (m.jwks_uri !== undefined) jwksUri = absoluteUrl(m.jwks_uri, 'jwks_uri');
  if (authMethod === 'private_key_jwt' && !jwks && !jwksUri) throw bad('private_key_jwt needs jwks or jwks_uri');
  let scope: string | undefined;
  if (m.scope !== undefined) {
    if (typeof m.scope !== 'string' || !m.scope.trim()) throw bad('scope must be a space-separated string');
    scope = m.scope.trim().split(/\s+/).join(' ');
    const { grants } = parseScopes(scope);
    if (grants.some((g) => g.context === 'system') && !grantTypes.includes('client_credentials')) {
      throw bad('system/ scopes are for client_credentials clients: add it to grant_types');
    }
  }
  if (m.client_name !== undefined && typeof m.client_name !== 'string') throw bad('client_name must be a string');
  return {
    clientName: m.client_name as string | undefined,
    redirectUris,
    grantTypes,
    authMethod,
    scope,
    jwks,
    jwksUri,
    launchUri: m.launch_uri === undefined ? undefined : absoluteUrl(m.launch_uri, 'launch_uri'),
  };
}

export function registerRegistrationEndpoint(app: FastifyInstance, s: AuthServices): void {
  app.post('/auth/register', async (req, reply) => {
    try {
      await adminAuth(s, req);
      const r = parseRegistration(jsonBody(req));
      const { client, secret } = await s.clients.create({ ...r, admin: false });
      return reply
        .code(201)
        .header('Cache-Control', 'no-store')
        .send({
          client_id: client.clientId,
          client_id_issued_at: Math.floor(Date.now() / 1000),
          ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
          client_name: r.clientName,
          redirect_uris: r.redirectUris,
          grant_types: r.grantTypes,
          response_types: r.grantTypes.includes('authorization_code') ? ['code'] : [],
          token_endpoint_auth_method: r.authMethod,
          scope: r.scope,
          jwks: r.jwks,
          jwks_uri: r.jwksUri,
          launch_uri: r.launchUri,
        });
    } catch (e) {
      if (e instanceof OAuthError) return sendOAuthError(reply, e);
      throw e;
    }
  });
}
