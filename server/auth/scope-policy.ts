/**
 * Which scopes a client may ask for (DESIGN.md §1.1 "registration scope"): its registered `scope` caps them, a
 * wildcard covering specific scopes; without one, any patient/ or user/ resource scope and the launch and
 * identity scopes, never system/.
 */
import { parseResourceScope, parseScopes, scopeCovers } from './scopes';

export const DEFAULT_OTHER_SCOPES = ['launch', 'launch/patient', 'launch/encounter', 'openid', 'fhirUser', 'offline_access', 'online_access'];

/** Whether the client whose cap is `cap` (undefined: the default cap) may ask for `scope` (one scope). */
export function clientMayAsk(cap: string | undefined, scope: string): boolean {
  const wanted = parseResourceScope(scope);
  if (cap === undefined) {
    if (wanted) return wanted.context !== 'system';
    return DEFAULT_OTHER_SCOPES.includes(scope);
  }
  const allowed = parseScopes(cap);
  if (wanted) return allowed.grants.some((g) => scopeCovers(g, wanted));
  // launch covers its own context scopes (launch/patient…) only when they are named; other scopes must be named
  return allowed.other.includes(scope);
}

/** The scopes of `requested` the cap does not allow. */
export function scopesBeyondCap(cap: string | undefined, requested: string): string[] {
  return requested.split(/\s+/).filter((s) => s && !clientMayAsk(cap, s));
}
