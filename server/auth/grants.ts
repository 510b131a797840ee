/**
 * The token endpoint's grants for a person's authorization (SMART App Launch 2.2 "obtain access token",
 * "refresh access token"): `authorization_code` (PKCE S256 checked here; public clients name themselves with
 * client_id, confidential ones authenticate — token.ts) and `refresh_token` (rotation; a refresh may narrow the
 * scope, never widen it). The response carries the launch context, `fhirUser`, the banner and style hints, an
 * `id_token` for `openid`, and a refresh token for `offline_access`/`online_access`.
 */
import type { OAuthClient } from './clients';
import { CodeStore, type GrantContext, type IssuedTokens } from './codes';
import { OAuthError } from './errors';
import { newFamilyId, RefreshStore, refreshTtl } from './refresh';
import type { AuthServices } from './services';
import type { GrantHandler, TokenResponse } from './token';

/** Where the SMART style JSON is served, relative to the issuer (…/auth). */
export const SMART_STYLE_PATH = '/smart-style.json';

/** A client registered for authorization_code may refresh what it obtained (most SMART apps register only that). */
function mayUse(client: OAuthClient, grantType: string): void {
  const allowed = grantType === 'refresh_token' ? ['refresh_token', 'authorization_code'] : [grantType];
  if (client.grantTypes.length && !allowed.some((g) => client.grantTypes.includes(g))) {
    throw new OAuthError('unauthorized_client', `this client is not registered for the ${grantType} grant`);
  }
}

const scopeSet = (scope: string): string[] => [...new Set(scope.split(/\s+/).filter(Boolean))];

/** Access token (+ refresh token, id_token) for a user's grant, and the SMART token response around it. */
async function respond(
  s: AuthServices,
  grant: { clientId: string; userId: string; authorizedScope: string; scope: string; context: GrantContext; familyId?: string },
  opts: { idToken: boolean },
): Promise<{ response: TokenResponse; issued: IssuedTokens }> {
  const { context } = grant;
  const token = await s.tokens.issueAccessToken({
    clientId: grant.clientId,
    sub: grant.userId,
    scope: grant.scope,
    fhirUser: context.fhirUser,
    ...(context.patient ? { patient: context.patient } : {}),
    ...(context.encounter ? { encounter: context.encounter } : {}),
  });
  const scopes = scopeSet(grant.scope);
  const response: TokenResponse = { access_token: token.access_token, token_type: 'Bearer', expires_in: token.expires_in, scope: grant.scope };
  if (context.patient) response.patient = context.patient;
  if (context.encounter) response.encounter = context.encounter;
  if (scopes.includes('fhirUser') || scopes.includes('openid')) response.fhirUser = context.fhirUser;
  if (context.patient) response.need_patient_banner = context.needPatientBanner ?? false;
  response.smart_style_url = `${s.endpoints.issuer}${SMART_STYLE_PATH}`;
  if (opts.idToken && scopes.includes('openid')) {
    response.id_token = await s.tokens.issueIdToken({
      sub: grant.userId,
      clientId: grant.clientId,
      // absolute: an app resolves it without knowing which FHIR base the relative form would be relative to
      ...(scopes.includes('fhirUser') || scopes.includes('profile') ? { fhirUser: `${s.config.baseUrl}/${context.fhirUser}` } : {}),
      ...(context.nonce ? { nonce: context.nonce } : {}),
      authTime: context.authTime,
    });
  }
  const issued: IssuedTokens = { jti: token.jti, exp: token.exp };
  const ttl = refreshTtl(grant.authorizedScope);
  if (ttl !== undefined) {
    const familyId = grant.familyId ?? newFamilyId();
    const { nonce: _nonce, ...kept } = context;
    response.refresh_token = await new RefreshStore(s.db).issue(
      { familyId, clientId: grant.clientId, userId: grant.userId, scope: grant.authorizedScope, context: kept },
      ttl,
      { jti: token.jti, exp: token.exp },
    );
    issued.family = familyId;
  }
  return { response, issued };
}

/** Revokes access tokens (and refresh families) an earlier answer issued. */
async function revokeIssued(s: AuthServices, tokens: { jti: string; exp: number }[]): Promise<void> {
  for (const t of tokens) await s.tokens.revokeAccessToken(t.jti, t.exp);
}

export const authorizationCode: GrantHandler = async (s, client, form) => {
  mayUse(client, 'authorization_code');
  if (!form.code) throw new OAuthError('invalid_request', 'code is required');
  const codes = new CodeStore(s.db);
  const redemption = await codes.redeem(form.code, client.clientId, form.redirect_uri, form.code_verifier);
  if (redemption.kind === 'replay') {
    const issued = redemption.issued;
    if (issued) {
      const family = issued.family ? await new RefreshStore(s.db).revokeFamily(issued.family) : [];
      await revokeIssued(s, [issued, ...family]);
    }
    throw new OAuthError('invalid_grant', 'the authorization code has been used; the tokens it issued are revoked');
  }
  if (redemption.kind === 'invalid') throw new OAuthError('invalid_grant', redemption.reason);
  const { grant } = redemption;
  const { response, issued } = await respond(
    s,
    { clientId: grant.clientId, userId: grant.userId, authorizedScope: grant.scope, scope: grant.scope, context: grant.context },
    { idToken: true },
  );
  await codes.recordIssued(redemption.codeHash, issued);
  return response;
};

export const refreshToken: GrantHandler = async (s, client, form) => {
  mayUse(client, 'refresh_token');
  if (!form.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required');
  let scope = '';
  // a wider scope is refused before the token is used up (the app keeps a working refresh token)
  const use = await new RefreshStore(s.db).use(form.refresh_token, client.clientId, (grant) => {
    scope = grant.scope;
    if (form.scope === undefined) return;
    const authorized = new Set(scopeSet(grant.scope));
    const wider = scopeSet(form.scope).filter((sc) => !authorized.has(sc));
    if (wider.length) throw new OAuthError('invalid_scope', `a refresh cannot widen the scope: ${wider.join(' ')} was not granted`);
    scope = scopeSet(form.scope).join(' ');
    if (!scope) throw new OAuthError('invalid_scope', 'scope is empty');
  });
  if (use.kind === 'reuse') {
    await revokeIssued(s, use.accessTokens);
    throw new OAuthError('invalid_grant', 'the refresh token has been used before; every token of its authorization is revoked');
  }
  if (use.kind === 'invalid') throw new OAuthError('invalid_grant', use.reason);
  const { grant } = use;
  const { response } = await respond(
    s,
    { clientId: grant.clientId, userId: grant.userId, authorizedScope: grant.scope, scope, context: grant.context, familyId: grant.familyId },
    { idToken: false },
  );
  return response;
};
