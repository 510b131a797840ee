/**
 * The SMART layer's wiring (DESIGN.md §1.1): CORS for browser apps, the bearer guard on the FHIR base, and the
 * authorization server's endpoints under /auth. Each endpoint lives in its own module; this file only registers.
 */
import type { FastifyInstance } from 'fastify';
import { registerAdminPaths } from './admin-paths';
import { registerAccount } from './account';
import { registerAuthorize } from './authorize';
import { authorizeFlow } from './authorize-flow';
import { registerCors } from './cors';
import { registerDiscovery } from './discovery';
import { authorizationCode, refreshToken } from './grants';
import { publicClientOfRefreshToken } from './refresh';
import { grantHandlers, impliedClients, registerTokenEndpoint } from './token';
import { registerIntrospection } from './introspect';
import { registerRegistrationEndpoint } from './register';
import type { AuthServices } from './services';

// a person's grants (grants.ts) join the token endpoint's map beside client_credentials
Object.assign(grantHandlers, { authorization_code: authorizationCode, refresh_token: refreshToken });
impliedClients.refresh_token = (s, form) => (form.refresh_token ? publicClientOfRefreshToken(s.db, form.refresh_token) : Promise.resolve(undefined));

export async function registerAuth(app: FastifyInstance, s: AuthServices, fhirPrefix: string): Promise<void> {
  registerCors(app);
  registerDiscovery(app, s, fhirPrefix);
  registerTokenEndpoint(app, s);
  const flow = authorizeFlow(s);
  registerAuthorize(app, flow);
  registerAccount(app, flow);
  registerAdminPaths(app, s);
  registerIntrospection(app, s);
  registerRegistrationEndpoint(app, s);
}
