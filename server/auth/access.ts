/**
 * What a token may see and touch: its SMART scopes (scopes.ts), launch context (`patient`) and user (`fhirUser`)
 * turned into the repository's AccessRestriction — per permission (c, r, u, d, s), the rules whose union applies —
 * which the repository compiles into the SQL of every read and checks on every write (DESIGN.md §1.1 "user
 * access", §2: auth decides *what* as a predicate, the repository applies it inside the same query).
 *
 * - `system/` scopes: no compartment (backend services).
 * - `patient/` scopes: the Patient compartment of the token's `patient` (nothing without one).
 * - `user/` scopes: a Practitioner (or PractitionerRole) user covers every patient of the network; a Patient user
 *   only their own compartment; a RelatedPerson user the compartments of the patients its `patient` names, read
 *   inside each statement (so a link changed by a write applies at once, at no extra round trip).
 * - Types outside the Patient compartment definition that hold no patient data (Practitioner, Organization,
 *   Location, Medication, terminology and conformance resources …: sharedTypes()) are open to the reads of a
 *   compartment rule that covers them, e.g. `patient/Practitioner.r` or `patient/*.rs` — never to its writes. Types outside the definition that may carry patient
 *   data (Binary, Bundle, Task, Device, …: NOT_SHARED) are never in a patient's compartment: only `system/` scopes
 *   and Practitioner users reach them.
 * - v1 `read` = r + s, `write` = c + u + d, `*` = all; v2 letters as written.
 * - Granular v2 scopes (`patient/Observation.rs?category=laboratory`) take search syntax, parsed by the server's
 *   own search parser and compiled by the search compiler, so `category=laboratory` and
 *   `category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory` work as that search would.
 *   Only criteria on the resource's own values may be used (no chains, `_has`, `_list`, value-set modifiers or
 *   `_lastUpdated`); a scope whose query is not such a search grants nothing (fail closed).
 *
 * The result is cached per scope string and context (tokens of one session share it): building it costs a parse
 * per token, never per request.
 */
import { r4Model } from '../fhir/definitions';
import type { Criterion } from '../fhir/search/criteria';
import { parseCriteria } from '../fhir/search/parse';
import {
  PERMISSIONS,
  type AccessCompartment,
  type AccessPermission,
  type AccessRestriction,
  type AccessRule,
} from '../repository/search/compile/access';
import type { AuthContext } from './context';
import type { ScopeGrant } from './scopes';

export interface AccessOptions {
  /** Zone of dates without an offset in a granular scope's query (AROGYA_TIMEZONE). */
  timeZone: string;
  /** The FHIR base, for absolute references in a granular scope's query. */
  baseUrl: string;
}

/** Types outside the Patient compartment definition that may still carry a patient's data: never shared. */
export const NOT_SHARED = [
  'Binary',
  'Bundle',
  'BiologicallyDerivedProduct',
  'Contract',
  'Device',
  'DeviceMetric',
  'EnrollmentResponse',
  'GuidanceResponse',
  'Linkage',
  'MessageHeader',
  'OperationOutcome',
  'Parameters',
  'PaymentNotice',
  'PaymentReconciliation',
  'Subscription',
  'Task',
  'TestReport',
  'VerificationResult',
];

let shared: string[] | undefined;

/** Types open to a patient-compartment rule that covers them: outside the compartment definition, and not NOT_SHARED. */
export function sharedTypes(): string[] {
  if (!shared) {
    const members = r4Model().compartments.Patient ?? {};
    shared = r4Model()
      .resourceTypes.filter((t) => t !== 'Patient' && !members[t]?.length && !NOT_SHARED.includes(t))
      .sort();
  }
  return shared;
}

/** Criterion kinds a granular scope may use: conditions on the resource's own index rows or id. */
const FILTER_KINDS = new Set<Criterion['kind']>([
  'id',
  'missing',
  'token',
  'string',
  'text',
  'date',
  'number',
  'quantity',
  'uri',
  'reference',
  'composite',
]);

/** A granular scope's query → its criteria, or undefined when it is not a search a scope may take. */
export function scopeFilter(type: string, query: string, opts: AccessOptions): Criterion[] | undefined {
  let criteria: Criterion[];
  try {
    criteria = parseCriteria(type, new URLSearchParams(query), 'scope', opts.timeZone, opts.baseUrl);
  } catch {
    return undefined;
  }
  if (criteria.length === 0 || criteria.some((c) => !FILTER_KINDS.has(c.kind))) return undefined;
  return criteria;
}

/** The compartment a grant of this context confines to; null: none (every patient); undefined: the grant gives nothing. */
function compartmentOf(g: ScopeGrant, auth: AuthContext): AccessCompartment | null | undefined {
  if (g.context === 'system') return null;
  if (g.context === 'patient') return auth.patient ? { type: 'Patient', id: auth.patient, sharedTypes: sharedTypes() } : undefined;
  const [kind, id] = (auth.fhirUser ?? '').split('/');
  if (!id) return undefined;
  switch (kind) {
    case 'Practitioner':
    case 'PractitionerRole':
      return null;
    case 'Patient':
      return { type: 'Patient', id, sharedTypes: sharedTypes() };
    case 'RelatedPerson':
      return { type: 'Patient', via: { type: 'RelatedPerson', id, param: 'patient' }, sharedTypes: sharedTypes() };
    default:
      return undefined; // a user of another kind (Person, Device, …): user/ scopes give it nothing
  }
}

/**
 * One grant → its rules for reading (r, s) and for writing (c, u, d), or undefined when it grants nothing in this
 * token's context. Shared types are open to a compartment's reads only: a patient's app may read the Practitioner
 * of its Observation, never write Practitioners, ValueSets or SearchParameters for the whole network.
 */
function rulesOf(g: ScopeGrant, auth: AuthContext, opts: AccessOptions): { read: AccessRule; write: AccessRule } | undefined {
  const compartment = compartmentOf(g, auth);
  if (compartment === undefined) return undefined;
  const rule: AccessRule = {};
  if (g.resourceType !== '*') rule.resourceTypes = [g.resourceType];
  if (g.query !== undefined) {
    if (g.resourceType === '*') return undefined;
    const criteria = scopeFilter(g.resourceType, g.query, opts);
    if (!criteria) return undefined;
    rule.filter = { type: g.resourceType, criteria };
  }
  if (!compartment) return { read: rule, write: rule };
  const { sharedTypes: _shared, ...confined } = compartment;
  return { read: { ...rule, compartment }, write: { ...rule, compartment: confined } };
}

const isOpen = (r: AccessRule): boolean => !r.resourceTypes && !r.compartment && !r.filter;

/** Grants and context → the restriction; undefined when it is no restriction at all (e.g. `system/*.*`). */
export function accessOfGrants(grants: readonly ScopeGrant[], auth: AuthContext, opts: AccessOptions): AccessRestriction | undefined {
  const rules: Partial<Record<AccessPermission, AccessRule[]>> = {};
  const unusable: string[] = [];
  for (const g of grants) {
    const r = rulesOf(g, auth, opts);
    if (!r) {
      unusable.push(`${g.raw} ${whyUnusable(g, auth)}`);
      continue;
    }
    for (const p of g.permissions) (rules[p] ??= []).push(p === 'r' || p === 's' ? r.read : r.write);
  }
  // a permission with an open rule needs no other
  for (const p of PERMISSIONS) {
    const open = rules[p]?.find(isOpen);
    if (open) rules[p] = [open];
  }
  if (PERMISSIONS.every((p) => rules[p]?.length === 1 && isOpen(rules[p]![0]))) return undefined;
  const contexts = new Set(grants.map((g) => g.context));
  const context = contexts.has('patient') ? 'patient' : contexts.has('user') ? 'user' : 'system';
  return unusable.length ? { rules, context, unusable } : { rules, context };
}

/** Why a grant gives nothing in this token's context (for the 403 that names it; no patient data). */
function whyUnusable(g: ScopeGrant, auth: AuthContext): string {
  if (compartmentOf(g, auth) === undefined) {
    return g.context === 'patient' ? 'without a launch patient' : 'without a Practitioner, Patient or RelatedPerson user';
  }
  return g.resourceType === '*' ? '(a query needs one resource type)' : '(its query is not a search a scope may take)';
}

const DEFAULT_OPTIONS: AccessOptions = { timeZone: 'UTC', baseUrl: '' };
const CACHE_SIZE = 1000;
const cache = new Map<string, AccessRestriction | undefined>();
const byContext = new WeakMap<AuthContext, { opts: AccessOptions; access: AccessRestriction | undefined }>();

/**
 * The AccessRestriction of a verified token (undefined: unrestricted). `null` — no token: AROGYA_AUTH=off, or a
 * public path the guard let through — is unrestricted: the guard (guard.ts) is what refuses FHIR requests without one.
 */
export function accessOf(auth: AuthContext | null | undefined, opts: AccessOptions = DEFAULT_OPTIONS): AccessRestriction | undefined {
  if (!auth) return undefined;
  // the token service hands out one AuthContext per verified token: its restriction is found without a key
  const known = byContext.get(auth);
  if (known && known.opts === opts) return known.access;
  const key = `${auth.scope}\n${auth.patient ?? ''}\n${auth.fhirUser ?? ''}\n${opts.timeZone}\n${opts.baseUrl}`;
  let access: AccessRestriction | undefined;
  if (cache.has(key)) access = cache.get(key);
  else {
    access = accessOfGrants(auth.grants, auth, opts);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(key, access);
  }
  byContext.set(auth, { opts, access });
  return access;
}
