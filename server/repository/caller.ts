/**
 * The caller's context that every repository read and write is given (DESIGN.md §2, "one write path, one read
 * path"): who is acting, what they may see, and which request the work belongs to. The SMART layer will fill
 * `actor` and `access` from the token; the outbox and audit record `actor` and `requestId` at the one commit point.
 */
import type { RequestScope } from '../database/request-scope';
import type { AccessRestriction } from './search/compile/access';

export interface Actor {
  /** anonymous: no authorization layer yet (or AROGYA_AUTH=off); system: the server itself (workflows, jobs). */
  kind: 'anonymous' | 'system' | 'user' | 'client';
  /** The acting user's FHIR resource (`Practitioner/…`, `Patient/…`), when a user acts. */
  reference?: string;
  /** The OAuth client acting (or acting for the user). */
  clientId?: string;
}

/**
 * The audit trail of one request (server/audit/trail.ts): the read path and the write engine tell it which resources
 * they gave the caller or wrote, so the request's AuditEvent names the patients involved without reading anything
 * again. Calls are cheap and synchronous; nothing here may fail a read or a write.
 */
export interface CallerAudit {
  /** A resource read or written for the caller; `content` is its stored JSON when at hand. */
  touched(resourceType: string, id: string, versionId: number, content: string | undefined): void;
  /** A search or history page: resources on it, and the total when it was counted. */
  counted(matches: number, total?: number): void;
  /** Whether the caller holds an audit scope (may read AuditEvents; README "Audit"). */
  readonly auditReader: boolean;
}

export interface Caller {
  actor: Actor;
  /** What the caller may see and touch, applied inside every statement; absent: everything. */
  access?: AccessRestriction;
  /** The request id (X-Request-Id) of the HTTP request this work belongs to, when there is one. */
  requestId?: string;
  /** The request's audit trail (HTTP requests while auditing is on). */
  audit?: CallerAudit;
  /** Set when an HMS workflow (server/workflows/) writes: its own writes trigger no workflow. */
  workflow?: string;
  /** false: this caller's writes trigger no workflow (bulk `$import`: data migration, not hospital activity). */
  triggers?: boolean;
  /**
   * The HTTP request's hold on the connections its reads use (database/request-scope.ts): cancelled in the
   * database when the client goes away. Absent: reads run on the pool as it is.
   */
  scope?: RequestScope;
}

/** The server acting on its own behalf (jobs, migrations, CLI import, workflows): unrestricted. */
export const SYSTEM_CALLER: Caller = Object.freeze({ actor: Object.freeze({ kind: 'system' as const }) });
