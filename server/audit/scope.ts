/**
 * The audit scope: who may read AuditEvents. The audit log says who saw whose data, so a wildcard for clinical
 * data (`patient/*.rs`, `user/*.rs`) does not reach it; it takes a scope naming AuditEvent in the user or system
 * context (`user/AuditEvent.rs`, `system/AuditEvent.rs`, v1 `.read`), or a `system/*` scope with read or search
 * (backend services and the admin client, e.g. `system/*.*`).
 */
import type { AuthContext } from '../auth/context';

export function isAuditReader(auth: AuthContext | null | undefined): boolean {
  if (!auth) return false;
  return auth.grants.some(
    (g) =>
      (g.permissions.has('r') || g.permissions.has('s')) &&
      ((g.resourceType === 'AuditEvent' && g.context !== 'patient') || (g.resourceType === '*' && g.context === 'system')),
  );
}
