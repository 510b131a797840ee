/**
 * SMART discovery (SMART App Launch 2.2 §"Conformance"): `[base]/.well-known/smart-configuration`, the OpenID
 * Provider metadata at the issuer (for `openid fhirUser`), and the JWKS. Every capability listed is true of the
 * server (DESIGN.md §1.1).
 */
import type { FastifyInstance } from 'fastify';
import { ASSERTION_ALGS } from './clients';
import { SIGNING_ALG } from './keys';
import type { AuthServices } from './services';

export const SMART_CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'authorize-post',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'context-banner',
  'context-style',
  'permission-offline',
  'permission-online',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
];

export const SCOPES_SUPPORTED = [
  'openid',
  'fhirUser',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
  'patient/*.cruds',
  'patient/*.rs',
  'patient/*.read',
  'patient/*.write',
  'user/*.cruds',
  'user/*.rs',
  'user/*.read',
  'user/*.write',
  'system/*.cruds',
  'system/*.rs',
  'system/*.read',
  'system/*.write',
];

export function smartConfiguration(s: AuthServices): Record<string, unknown> {
  const e = s.endpoints;
  return {
    issuer: e.issuer,
    jwks_uri: e.jwks,
    authorization_endpoint: e.authorize,
    token_endpoint: e.token,
    introspection_endpoint: e.introspect,
    revocation_endpoint: e.revoke,
    registration_endpoint: e.register,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    response_types_supported: ['code'],
    scopes_supported: SCOPES_SUPPORTED,
    code_challenge_methods_supported: ['S256'],
    capabilities: SMART_CAPABILITIES,
  };
}

export function registerDiscovery(app: FastifyInstance, s: AuthServices, fhirPrefix: string): void {
  app.get(`${fhirPrefix}/.well-known/smart-configuration`, async (_req, reply) =>
    reply.header('Cache-Control', 'public, max-age=300').send(smartConfiguration(s)),
  );
  app.get('/auth/.well-known/openid-configuration', async (_req, reply) =>
    reply.header('Cache-Control', 'public, max-age=300').send({
      issuer: s.endpoints.issuer,
      authorization_endpoint: s.endpoints.authorize,
      token_endpoint: s.endpoints.token,
      jwks_uri: s.endpoints.jwks,
      registration_endpoint: s.endpoints.register,
      introspection_endpoint: s.endpoints.introspect,
      revocation_endpoint: s.endpoints.revoke,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [SIGNING_ALG],
      grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt', 'none'],
      token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
      scopes_supported: SCOPES_SUPPORTED,
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'fhirUser', 'nonce'],
      code_challenge_methods_supported: ['S256'],
    }),
  );
  app.get('/auth/jwks', async (_req, reply) => reply.header('Cache-Control', 'public, max-age=60').send(await s.keys.jwks()));
}
