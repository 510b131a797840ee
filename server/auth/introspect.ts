/**
 * Token introspection (RFC 7662) and revocation (RFC 7009).
 * - Introspection is for a confidential client's credentials or an admin bearer token (DESIGN.md §1.1); it
 *   answers `{ active: false }` for anything not currently valid, and for an active access token its claims.
 * - Revocation is for the client the token was issued to (a public client names itself with client_id). An
 *   access token is revoked by its id everywhere within AROGYA_REVOCATION_SYNC_MS; a refresh token ends its
 *   whole family (every refresh token rotated from the same authorization). Unknown or invalid tokens: 200.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import { adminAuth } from './admin';
import type { OAuthClient } from './clients';
import { OAuthError, sendOAuthError } from './errors';
import { secretHash } from './opaque';
import { RefreshStore } from './refresh';
import { formOf } from './token';
import { InvalidTokenError } from './tokens';
import type { AuthServices } from './services';

interface RefreshRow {
  family_id: string;
  client_id: string;
  user_id: string | null;
  scope: string;
  context: Record<string, unknown> | string;
  exp: number | null;
  family_revoked: boolean;
  used: boolean;
}

async function refreshRow(s: AuthServices, token: string): Promise<RefreshRow | undefined> {
  const { rows } = await s.db.query<RefreshRow>(
    `SELECT r.family_id, r.client_id, r.user_id, r.scope, r.context, extract(epoch FROM r.expires_at)::float8 AS exp,
            r.used_at IS NOT NULL AS used,
            EXISTS (SELECT 1 FROM auth_refresh f WHERE f.family_id = r.family_id AND f.revoked_at IS NOT NULL) AS family_revoked
       FROM auth_refresh r WHERE r.token_hash = $1`,
    [secretHash(token)],
  );
  return rows[0];
}

/** Who may introspect: a confidential client (its own credentials) or an admin bearer token. */
async function introspector(s: AuthServices, req: FastifyRequest, form: Record<string, string>): Promise<void> {
  if (/^Bearer /i.test(req.headers.authorization ?? '')) {
    await adminAuth(s, req);
    return;
  }
  const client = await s.clients.authenticate({ authorization: req.headers.authorization, ...form });
  if (client.authMethod === 'none') throw new OAuthError('invalid_client', 'introspection needs a confidential client or an admin token', 401);
}

export function registerIntrospection(app: FastifyInstance, s: AuthServices): void {
  app.post('/auth/introspect', async (req, reply) => {
    try {
      const form = formOf(req);
      await introspector(s, req, form);
      if (!form.token) throw new OAuthError('invalid_request', 'token is required');
      reply.header('Cache-Control', 'no-store');
      if (form.token_type_hint !== 'refresh_token') {
        try {
          const t = await s.tokens.verify(form.token);
          if (await s.tokens.isRevoked(t.jti)) return reply.send({ active: false });
          return reply.send({
            active: true,
            scope: t.scope,
            client_id: t.clientId,
            sub: t.sub,
            exp: t.exp,
            iss: s.endpoints.issuer,
            aud: s.config.baseUrl,
            token_type: 'Bearer',
            ...(t.patient ? { patient: t.patient } : {}),
            ...(t.encounter ? { encounter: t.encounter } : {}),
            ...(t.fhirUser ? { fhirUser: t.fhirUser } : {}),
          });
        } catch (e) {
          if (!(e instanceof InvalidTokenError)) throw e;
        }
      }
      const r = await refreshRow(s, form.token);
      if (!r || r.used || r.family_revoked || (r.exp !== null && r.exp * 1000 <= Date.now())) return reply.send({ active: false });
      return reply.send({
        active: true,
        scope: r.scope,
        client_id: r.client_id,
        sub: r.user_id ?? r.client_id,
        token_type: 'refresh_token',
        ...(r.exp ? { exp: Math.floor(r.exp) } : {}),
      });
    } catch (e) {
      if (e instanceof OAuthError) return sendOAuthError(reply, e);
      throw e;
    }
  });

  app.post('/auth/revoke', async (req, reply) => {
    try {
      const form = formOf(req);
      const client: OAuthClient = await s.clients.authenticate({ authorization: req.headers.authorization, ...form });
      if (!form.token) throw new OAuthError('invalid_request', 'token is required');
      reply.header('Cache-Control', 'no-store');
      // an access token (a JWT of this server): revoke its id, when it was issued to this client
      let claims: ReturnType<typeof decodeJwt> | undefined;
      try {
        claims = decodeJwt(form.token);
      } catch {
        claims = undefined;
      }
      if (claims) {
        try {
          const t = await s.tokens.verify(form.token);
          if (t.clientId !== client.clientId) throw new OAuthError('unauthorized_client', 'the token was issued to another client', 400);
          await s.tokens.revokeAccessToken(t.jti, t.exp);
        } catch (e) {
          if (!(e instanceof InvalidTokenError)) throw e;
        }
        return reply.code(200).send();
      }
      const r = await refreshRow(s, form.token);
      if (r) {
        if (r.client_id !== client.clientId) throw new OAuthError('unauthorized_client', 'the token was issued to another client', 400);
        // the family's refresh tokens, and the access tokens it issued that are still alive
        const now = Date.now() / 1000;
        for (const a of await new RefreshStore(s.db).revokeFamily(r.family_id)) if (a.exp > now) await s.tokens.revokeAccessToken(a.jti, a.exp);
      }
      return reply.code(200).send();
    } catch (e) {
      if (e instanceof OAuthError) return sendOAuthError(reply, e);
      throw e;
    }
  });
}
