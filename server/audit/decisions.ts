/**
 * Authorization decisions of the SMART endpoints as AuditEvents (issue 11 point 10): a token issued or refused at
 * `/auth/token`, a sign-in that succeeded or failed at `/auth/authorize`. The endpoints call `recordDecision` at the
 * point they decide; it returns at once (the event is written with the next batch, log.ts) and does nothing when
 * auditing is off. Never pass secrets (passwords, codes, tokens); the username of a failed sign-in is fine to name.
 *
 * Shape (BALP "Login" and "Logout" for sign-ins and sign-outs): type DICOM 110114 User Authentication, subtype
 * 110122 Login (`login`), 110123 Logout (`logout`) or `token`; action E; outcome 0 (success) or 4 (refused); agents: the client, the user; entities: the patient of the
 * launch context, the grant type and scope.
 */
import type { FastifyRequest } from 'fastify';
import type { AuditDetail } from './event';
import './http';

export interface AuthorizationDecision {
  /** token: /auth/token; login: a sign-in; logout: a sign-out; consent: the user's allow or deny of an app's scopes. */
  kind: 'token' | 'login' | 'logout' | 'consent';
  /** `success`: a token was issued / the user signed in; `failure`: refused. */
  outcome: 'success' | 'failure';
  clientId?: string;
  /** The user's FHIR resource (`Practitioner/7`), when known. */
  fhirUser?: string;
  /** The user's id or the username given at sign-in, when there is no fhirUser (e.g. an unknown user). */
  user?: string;
  /** The patient of the launch context. */
  patient?: string;
  /** Scopes asked for (refused) or granted (issued). */
  scope?: string;
  grantType?: string;
  /** The issued access token's id. */
  jti?: string;
  /** Why it was refused: an OAuth error code or a short phrase, never a secret. */
  reason?: string;
}

/** Records one authorization decision for `req` (no-op when auditing is off). */
export function recordDecision(req: FastifyRequest, d: AuthorizationDecision): void {
  const log = req.server.audit;
  if (!log) return;
  const detail: AuditDetail = {};
  if (d.scope) detail.scope = d.scope;
  if (d.grantType) detail.grantType = d.grantType;
  if (d.jti) detail.jti = d.jti;
  if (d.reason) detail.reason = d.reason;
  if (d.user && !d.fhirUser) detail.user = d.user;
  log.record({
    type: '110114',
    subtype: d.kind,
    action: 'E',
    outcome: d.outcome === 'success' ? 0 : 4,
    clientId: d.clientId,
    who: d.fhirUser,
    address: req.ip,
    patient: d.patient ? [d.patient] : undefined,
    requestId: req.id,
    detail,
  });
}

/** The claims of an access token this server has just issued (not verified again: it signed them a moment ago). */
function issuedClaims(accessToken: string): { jti?: string; sub?: string; fhirUser?: string; patient?: string } {
  try {
    return JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString()) as Record<string, string>;
  } catch {
    return {};
  }
}

/** `/auth/token` issued a token (any grant type): the client, the user, the launch patient, the scopes, the jti. */
export function recordTokenIssued(req: FastifyRequest, clientId: string, grantType: string, response: { access_token: string; scope: string }): void {
  const c = issuedClaims(response.access_token);
  recordDecision(req, {
    kind: 'token',
    outcome: 'success',
    clientId,
    fhirUser: c.fhirUser,
    user: c.sub !== clientId ? c.sub : undefined,
    patient: c.patient,
    scope: response.scope,
    grantType,
    jti: c.jti,
  });
}

/**
 * `/auth/token` refused: the OAuth error code is the reason. The client is the one the request names (Basic header
 * or client_id), authenticated or not: repeated refusals of one client id are what an auditor looks for.
 */
export function recordTokenRefused(req: FastifyRequest, form: Record<string, string>, error: string): void {
  let clientId = form.client_id;
  const basic = /^Basic +(\S+)$/i.exec(req.headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString();
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      try {
        clientId = decodeURIComponent(decoded.slice(0, colon));
      } catch {
        clientId = decoded.slice(0, colon);
      }
    }
  }
  recordDecision(req, {
    kind: 'token',
    outcome: 'failure',
    clientId: clientId?.slice(0, 200),
    scope: form.scope?.slice(0, 2000),
    grantType: form.grant_type?.slice(0, 100),
    reason: error,
  });
}
