/**
 * An audit record as the server keeps it: the few columns an auditor searches by, plus a small `detail`. It becomes
 * a FHIR AuditEvent (render.ts) only when someone reads it, so recording one costs an object and a batched row.
 *
 * Shapes follow IHE Basic Audit Log Patterns (BALP, https://profiles.ihe.net/ITI/BALP/): RESTful interactions are
 * type `rest` with the interaction as subtype; sign-in and token decisions are DICOM "User Authentication" events.
 */

/** AuditEvent.type codes: `rest` (audit-event-type) and DICOM 110114 User Authentication (sign-in, tokens). */
export type AuditType = 'rest' | '110114';

/** http://hl7.org/fhir/restful-interaction codes, and the authorization decisions of the SMART endpoints. */
export type AuditSubtype =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'batch'
  | 'transaction'
  | 'operation'
  | 'capabilities'
  // authorization decisions (type 110114)
  | 'login'
  | 'logout'
  | 'token'
  | 'consent';

/** AuditEvent.action (R4 audit-event-action): Create, Read, Update, Delete, Execute. */
export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';

/** AuditEvent.outcome (R4 audit-event-outcome): 0 success, 4 minor failure (refused), 8 serious failure, 12 major. */
export type AuditOutcome = 0 | 4 | 8 | 12;

/** The variable part of an event, kept as JSON. Never a resource body. */
export interface AuditDetail {
  /** Resources the event touched, `Type/id/_history/v` (at most MAX_ENTITIES). */
  entities?: string[];
  /** More resources were touched than listed. */
  moreEntities?: boolean;
  /** A search's or history's query string, as the client sent it. */
  query?: string;
  /** Matches on the page a search or history returned; `total` when the server counted them. */
  count?: number;
  total?: number;
  /** The operation's name (`$everything`, `$export`). */
  operation?: string;
  /** The path the client asked for (the resource type and id, without the query). */
  path?: string;
  /** HTTP status answered. */
  status?: number;
  /** Why a decision refused, in words without patient data (`invalid_grant`, `insufficient scope`). */
  reason?: string;
  /** The access token's id (jti) the request was authorized by, or the one issued. */
  jti?: string;
  /** Scopes asked for or granted (token decisions). */
  scope?: string;
  /** The OAuth grant type (token decisions). */
  grantType?: string;
  /** The signed-in user's id (sub), when it is not a FHIR reference. */
  user?: string;
  /** More patients were involved than listed. */
  morePatients?: boolean;
}

/** One audit record (an event of a batch in audit_batch; a row of the audit_event view). */
export interface AuditRecord {
  id: string;
  /** ISO instant */
  recorded: string;
  type: AuditType;
  subtype: AuditSubtype;
  action: AuditAction;
  outcome: AuditOutcome;
  /** The OAuth client that acted. */
  clientId?: string;
  /** The user who acted, as their FHIR resource (`Practitioner/7`). */
  who?: string;
  /** The client's network address. */
  address?: string;
  /** Patient ids the event is about. */
  patient?: string[];
  requestId?: string;
  detail?: AuditDetail;
}

/** What a caller of `AuditLog.record` gives: the id and time are the log's. */
export type AuditInput = Omit<AuditRecord, 'id' | 'recorded'>;

export const MAX_PATIENTS = 50;
export const MAX_ENTITIES = 20;

/** HTTP status → AuditEvent.outcome: refused or invalid requests are minor failures, server errors serious. */
export function outcomeOfStatus(status: number): AuditOutcome {
  if (status < 400) return 0;
  return status < 500 ? 4 : 8;
}
