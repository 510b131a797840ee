/**
 * The admin paths beside the authorization endpoints (DESIGN.md §1.1, not in discovery): `POST /auth/users`
 * (an admin client's token) creates a user who signs in at the authorization endpoint; `POST /auth/launch` (an
 * admin client's or a signed-in user's token) records an EHR launch context. Errors are OAuth-style JSON.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { visiblePatient } from './authorize-patients';
import { adminAuth, bearerAuth, jsonBody } from './admin';
import { OAuthError, sendOAuthError } from './errors';
import { LaunchInputError, LaunchStore, parseLaunchBody } from './launch';
import type { AuthServices } from './services';
import { DuplicateUserError, UserInputError, UserStore } from './users';

async function answer(reply: FastifyReply, work: () => Promise<unknown>): Promise<FastifyReply> {
  try {
    return reply
      .code(201)
      .header('Cache-Control', 'no-store')
      .send(await work());
  } catch (e) {
    if (e instanceof OAuthError) return sendOAuthError(reply, e);
    throw e;
  }
}

export function registerAdminPaths(app: FastifyInstance, s: AuthServices): void {
  const users = new UserStore(s.db);
  const launches = new LaunchStore(s.db);

  app.post('/auth/users', async (req, reply) =>
    answer(reply, async () => {
      await adminAuth(s, req);
      const body = jsonBody(req);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OAuthError('invalid_request', 'the body must be a JSON object');
      // oidcIssuer + oidcSubject (optional) link the user to an identity of the upstream OpenID provider
      const { username, password, fhirUser, oidcIssuer, oidcSubject } = body as Record<string, unknown>;
      try {
        const user = await users.create({ username, password, fhirUser, oidcIssuer, oidcSubject });
        return { id: user.id, username: user.username, fhirUser: user.fhirUser };
      } catch (e) {
        if (e instanceof UserInputError) throw new OAuthError('invalid_request', e.message);
        if (e instanceof DuplicateUserError) throw new OAuthError('invalid_request', e.message, 409);
        throw e;
      }
    }),
  );

  app.post('/auth/launch', async (req, reply) =>
    answer(reply, async () => {
      const auth = await bearerAuth(s, req);
      const userToken = !!auth.fhirUser && auth.sub !== auth.clientId;
      if (!auth.admin && !userToken)
        throw new OAuthError('insufficient_scope', "a launch is recorded with a signed-in user's or an admin client's token", 403);
      let launch: ReturnType<typeof parseLaunchBody>;
      try {
        launch = parseLaunchBody(jsonBody(req));
      } catch (e) {
        if (e instanceof LaunchInputError) throw new OAuthError('invalid_request', e.message);
        throw e;
      }
      if (launch.clientId && !(await s.clients.find(launch.clientId))) throw new OAuthError('invalid_request', 'client_id: no such client');
      const patient = launch.patient ?? '';
      // the launching user must be able to see the patient (an admin client sees every patient)
      const seer =
        userToken && !auth.admin
          ? { id: auth.sub, username: '', fhirUser: auth.fhirUser ?? '' }
          : { id: '', username: '', fhirUser: 'Practitioner/admin' };
      if (!(await visiblePatient(s.repo, seer, patient)))
        throw new OAuthError('invalid_request', 'patient: no such Patient (or not one this token may see)');
      const { clientId, ...context } = launch;
      return { launch: await launches.create(context, { clientId, createdBy: auth.sub }) };
    }),
  );
}
