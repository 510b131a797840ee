/**
 * The SMART layer's wiring (DESIGN.md §1.1): CORS for browser apps, the bearer guard on the FHIR base, and the
 * authorization server's endpoints under /auth. Each endpoint lives in its own module; this file only registers.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { registerAdminPaths } from './admin-paths';
import { registerAuthorize } from './authorize';
import { registerDiscovery } from './discovery';
import { authorizationCode, refreshToken } from './grants';
import { publicClientOfRefreshToken } from './refresh';
import { grantHandlers, impliedClients, registerTokenEndpoint } from './token';
import { registerIntrospection } from './introspect';
import { registerRegistrationEndpoint } from './register';
import type { AuthServices } from './services';

/** Response headers a SMART app in another origin must be able to read. */
const EXPOSED_HEADERS = ['Location', 'Content-Location', 'ETag', 'Last-Modified', 'X-Request-Id', 'X-Progress', 'Retry-After', 'WWW-Authenticate'];
const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Accept',
  'If-Match',
  'If-None-Match',
  'If-None-Exist',
  'If-Modified-Since',
  'Prefer',
  'X-Request-Id',
];

/**
 * CORS for the FHIR API and the endpoints apps call from script (token, introspect, revoke, register, jwks,
 * discovery) — any origin: access is by bearer token, never by cookie. The browser pages (authorize) are
 * navigations, not CORS requests, and get no CORS headers. Requests without an Origin are left alone.
 */
function corsFor(req: FastifyRequest): { origin: boolean | string } {
  if (!req.headers.origin) return { origin: false };
  const path = req.url.split('?')[0];
  if (path.startsWith('/auth/authorize')) return { origin: false };
  return { origin: '*' };
}

// a person's grants (grants.ts) join the token endpoint's map beside client_credentials
Object.assign(grantHandlers, { authorization_code: authorizationCode, refresh_token: refreshToken });
impliedClients.refresh_token = (s, form) => (form.refresh_token ? publicClientOfRefreshToken(s.db, form.refresh_token) : Promise.resolve(undefined));

export async function registerAuth(app: FastifyInstance, s: AuthServices, fhirPrefix: string): Promise<void> {
  await app.register(
    cors,
    () => (req: FastifyRequest, cb: (e: Error | null, o: object) => void) =>
      cb(null, {
        ...corsFor(req),
        methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
        allowedHeaders: ALLOWED_HEADERS,
        exposedHeaders: EXPOSED_HEADERS,
        maxAge: 600,
        strictPreflight: false,
      }),
  );
  registerDiscovery(app, s, fhirPrefix);
  registerTokenEndpoint(app, s);
  registerAuthorize(app, s);
  registerAdminPaths(app, s);
  registerIntrospection(app, s);
  registerRegistrationEndpoint(app, s);
}
