/**
 * The authorization server's parts, built once per process and handed to every /auth route and to the bearer
 * guard: configuration, the auth tables (the pool is the auth layer's own store, not FHIR data), the repository
 * (for the FHIR data a flow needs, e.g. the patient picker), signing keys, tokens and clients.
 */
import { authBaseOf, type Config } from '../config';
import type { Pool } from '../database/pool';
import type { Repository } from '../repository/repository';
import { ClientStore } from './clients';
import { SigningKeys } from './keys';
import { TokenService } from './tokens';

declare module 'fastify' {
  interface FastifyInstance {
    /** The authorization server's parts; null with AROGYA_AUTH=off. */
    authServices: AuthServices | null;
  }
}

export interface AuthEndpoints {
  issuer: string;
  authorize: string;
  token: string;
  introspect: string;
  revoke: string;
  register: string;
  jwks: string;
  launch: string;
  users: string;
}

export interface AuthServices {
  config: Config;
  db: Pool;
  repo: Repository;
  keys: SigningKeys;
  tokens: TokenService;
  clients: ClientStore;
  endpoints: AuthEndpoints;
}

export function authEndpoints(config: Config): AuthEndpoints {
  const issuer = authBaseOf(config.baseUrl);
  return {
    issuer,
    authorize: `${issuer}/authorize`,
    token: `${issuer}/token`,
    introspect: `${issuer}/introspect`,
    revoke: `${issuer}/revoke`,
    register: `${issuer}/register`,
    jwks: `${issuer}/jwks`,
    launch: `${issuer}/launch`,
    users: `${issuer}/users`,
  };
}

/** Longest-lived thing the keys sign: id_tokens (1 hour) or access tokens, whichever is longer. */
export const ID_TOKEN_TTL_S = 3600;

export function createAuthServices(config: Config, db: Pool, repo: Repository): AuthServices {
  const endpoints = authEndpoints(config);
  const keys = new SigningKeys(db, {
    rotationSeconds: config.signingKeyRotationSeconds,
    maxTokenSeconds: Math.max(config.accessTokenTtlSeconds, ID_TOKEN_TTL_S),
  });
  const tokens = new TokenService(db, keys, {
    issuer: endpoints.issuer,
    audience: config.baseUrl,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    revocationSyncMs: config.revocationSyncMs,
  });
  return { config, db, repo, keys, tokens, clients: new ClientStore(db, endpoints.token), endpoints };
}
