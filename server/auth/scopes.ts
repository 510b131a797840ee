/**
 * SMART scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html): v1 (`patient/*.read`,
 * `user/Observation.write`) and v2 (`patient/Observation.rs`, granular `patient/Observation.rs?category=laboratory`)
 * parsed into grants. Pure: what a grant lets a caller see is decided in access.ts.
 */

/** v2 permission letters: create, read, update, delete, search. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeContext = 'patient' | 'user' | 'system';

export interface ScopeGrant {
  /** The scope as requested, e.g. `patient/Observation.rs?category=laboratory`. */
  raw: string;
  context: ScopeContext;
  /** A resource type, or `*` for all. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** A v2 granular scope's search criteria (`category=laboratory`), applied as that search would be. */
  query?: string;
  /** v1 (`read`/`write`/`*`) or v2 (`cruds` letters). */
  version: 1 | 2;
}

export interface ParsedScopes {
  grants: ScopeGrant[];
  /** Every other scope: launch, launch/patient, openid, fhirUser, offline_access, online_access, … */
  other: string[];
}

const V1: Record<string, Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };
const ORDER: Permission[] = ['c', 'r', 'u', 'd', 's'];
const RESOURCE_SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.([^?]+)(?:\?(.+))?$/;

/** One resource scope → a grant; undefined when the text is not a resource scope (or its permissions are not valid). */
export function parseResourceScope(raw: string): ScopeGrant | undefined {
  const m = RESOURCE_SCOPE.exec(raw);
  if (!m) return undefined;
  const [, context, resourceType, perms, query] = m;
  const v1 = V1[perms];
  if (v1) return query ? undefined : { raw, context: context as ScopeContext, resourceType, permissions: new Set(v1), version: 1 };
  // v2: letters in the order c, r, u, d, s, each at most once
  let at = 0;
  const permissions = new Set<Permission>();
  for (const ch of perms) {
    const i = ORDER.indexOf(ch as Permission, at);
    if (i < 0) return undefined;
    permissions.add(ch as Permission);
    at = i + 1;
  }
  return { raw, context: context as ScopeContext, resourceType, permissions, query, version: 2 };
}

/** A space-separated scope string → grants and the other scopes, each scope once. */
export function parseScopes(scope: string | undefined): ParsedScopes {
  const grants: ScopeGrant[] = [];
  const other: string[] = [];
  for (const s of new Set((scope ?? '').split(/\s+/).filter(Boolean))) {
    const g = parseResourceScope(s);
    if (g) grants.push(g);
    else other.push(s);
  }
  return { grants, other };
}

/** The permission letters of a grant in canonical order, e.g. `rs`. */
export function permissionLetters(p: ReadonlySet<Permission>): string {
  return ORDER.filter((l) => p.has(l)).join('');
}

/**
 * Whether `wanted` is covered by `allowed` (a client's registered scope cap): same context or a wildcard type,
 * permissions a subset, and an unfiltered allowed grant or the same filter.
 */
export function scopeCovers(allowed: ScopeGrant, wanted: ScopeGrant): boolean {
  if (allowed.context !== wanted.context) return false;
  if (allowed.resourceType !== '*' && allowed.resourceType !== wanted.resourceType) return false;
  for (const p of wanted.permissions) if (!allowed.permissions.has(p)) return false;
  return allowed.query === undefined || allowed.query === wanted.query;
}
