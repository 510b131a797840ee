/**
 * The caller's context that every repository read and write is given (DESIGN.md §2, "one write path, one read
 * path"): who is acting, what they may see, and which request the work belongs to. The SMART layer will fill
 * `actor` and `access` from the token; the outbox and audit record `actor` and `requestId` at the one commit point.
 */
import type { AccessRestriction } from './search/compile/access';

export interface Actor {
  /** anonymous: no authorization layer yet (or AROGYA_AUTH=off); system: the server itself (workflows, jobs). */
  kind: 'anonymous' | 'system' | 'user' | 'client';
  /** The acting user's FHIR resource (`Practitioner/…`, `Patient/…`), when a user acts. */
  reference?: string;
  /** The OAuth client acting (or acting for the user). */
  clientId?: string;
}

export interface Caller {
  actor: Actor;
  /** What the caller may see and touch, applied inside every statement; absent: everything. */
  access?: AccessRestriction;
  /** The request id (X-Request-Id) of the HTTP request this work belongs to, when there is one. */
  requestId?: string;
}

/** The server acting on its own behalf (jobs, migrations, CLI import, workflows): unrestricted. */
export const SYSTEM_CALLER: Caller = Object.freeze({ actor: Object.freeze({ kind: 'system' as const }) });
