/**
 * Access predicates (AccessRestriction) come from the caller — the SMART layer turns a token's scopes into one
 * (server/auth/access.ts) — and are compiled into the same statement for the matches and for every alias a chain,
 * `_has`, `_list` or include reads, so nothing is ever filtered after the fact.
 *
 * A restriction holds, per SMART permission (c, r, u, d, s), the rules whose union the caller may use: a rule is a
 * set of resource types, optionally narrowed to a compartment (the token's patient) and to granular search
 * criteria (`patient/Observation.rs?category=laboratory`). A permission without rules grants nothing.
 */
import { r4Model } from '../../../fhir/definitions';
import type { Criterion } from '../../../fhir/search/criteria';
import { OperationOutcomeError, issue } from '../../../fhir/outcome';
import { indexCondition } from './criterion';
import { ownedBy, SqlBuilder } from './sql';

/** SMART v2 permissions: create, read, update, delete, search. */
export type AccessPermission = 'c' | 'r' | 'u' | 'd' | 's';
export const PERMISSIONS: readonly AccessPermission[] = ['c', 'r', 'u', 'd', 's'];

/**
 * What a statement reads for: a permission, or several (their rules united). Reads by id (read, vread, instance
 * history) need `r`; searches and everything searched-like (chains, `_has`, `_list`, type and system history,
 * `$everything`, export) `s`; an included resource may be one the caller could read or search (SEE).
 */
export type AccessUse = AccessPermission | readonly AccessPermission[];
export const SEE: readonly AccessPermission[] = ['r', 's'];

/** Compartment membership: of one resource (`id`), or of every resource `via` links to (RelatedPerson → its patients). */
export interface AccessCompartment {
  /** Compartment type, e.g. Patient. */
  type: string;
  /** The compartment's resource id. */
  id?: string;
  /** …or the compartments named by a reference parameter of another resource, e.g. RelatedPerson/x's `patient`. */
  via?: { type: string; id: string; param: string };
  /** Resources of these types are open to the rule whatever their links (outside the compartment definition, e.g. Practitioner). */
  sharedTypes?: string[];
}

/** One grant of access: these types (all when absent), in this compartment (any when absent), matching these criteria. */
export interface AccessRule {
  resourceTypes?: string[];
  compartment?: AccessCompartment;
  /** Granular search criteria of one resource type (the rule's only type), parsed by fhir/search. */
  filter?: { type: string; criteria: Criterion[] };
}

/** What a caller may see and touch, per permission. Plain data (JSON): a bulk job carries it to its worker. */
export interface AccessRestriction {
  rules: Partial<Record<AccessPermission, AccessRule[]>>;
  /** How messages name a missing scope: the token's context (`patient/Observation.s`). */
  context?: 'patient' | 'user' | 'system';
  /** Scopes the token holds that grant nothing in its context, and why (named in a 403). */
  unusable?: string[];
}

/** A restriction with the same rules for every permission (repository tests, and callers without SMART). */
export function uniformAccess(...rules: AccessRule[]): AccessRestriction {
  return { rules: Object.fromEntries(PERMISSIONS.map((p) => [p, rules])) };
}

function rulesFor(restriction: AccessRestriction, use: AccessUse): AccessRule[] {
  if (typeof use === 'string') return restriction.rules[use] ?? [];
  const out: AccessRule[] = [];
  for (const p of use) for (const r of restriction.rules[p] ?? []) if (!out.includes(r)) out.push(r);
  return out;
}

/** Every granular filter's criteria in a restriction (what its SQL depends on besides ids and types). */
export function accessCriteria(restriction: AccessRestriction | undefined): Criterion[] {
  if (!restriction) return [];
  return PERMISSIONS.flatMap((p) => restriction.rules[p] ?? []).flatMap((r) => r.filter?.criteria ?? []);
}

/** Whether some rule of `use` may apply to resources of `type` (any type when undefined): the type-level check. */
export function permits(restriction: AccessRestriction | undefined, use: AccessUse, type?: string): boolean {
  if (!restriction) return true;
  return rulesFor(restriction, use).some((r) => !type || !r.resourceTypes || r.resourceTypes.includes(type));
}

const WORDS: Record<AccessPermission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/**
 * Throws 403 unless some rule of `perm` covers `type` (at system level: any type): a valid token without a scope
 * for the interaction (DESIGN.md §1.1 errors). The message names the scope that would allow it.
 */
export function requirePermission(restriction: AccessRestriction | undefined, perm: AccessPermission, type?: string): void {
  if (permits(restriction, perm, type)) return;
  const scope = `${restriction?.context ?? 'patient'}/${type ?? '*'}.${perm}`;
  const unusable = restriction?.unusable?.length ? ` (granted but unusable: ${restriction.unusable.join('; ')})` : '';
  throw new OperationOutcomeError(403, [
    issue(
      'error',
      'forbidden',
      `The access token has no scope that allows ${WORDS[perm]} of ${type ?? 'any resource type'}: ${scope} is needed${unusable}`,
    ),
  ]);
}

/**
 * Throws 403 unless the caller's access is unrestricted (e.g. `system/*.*`): for work that acts on every resource
 * at once — `$reindex` rebuilds index rows of every resource of the types, which no partial access can scope.
 */
export function requireUnrestricted(restriction: AccessRestriction | undefined, what: string): void {
  if (!restriction) return;
  throw new OperationOutcomeError(403, [
    issue('error', 'forbidden', `${what} acts on every resource: it needs a token with unrestricted access (system/*.cruds)`),
  ]);
}

/** 403 for a resource the caller may see but not change this way (or create there): the write is outside its scopes. */
export function outsideAccess(perm: AccessPermission, what: string): OperationOutcomeError {
  return new OperationOutcomeError(403, [issue('error', 'forbidden', `The access token's scopes do not allow ${WORDS[perm]} of ${what}`)]);
}

/** Params linking each resource type to a compartment (CompartmentDefinition), e.g. Observation → subject, performer. */
export function compartmentParams(compartment: string, type: string): string[] {
  return r4Model().compartments[compartment]?.[type] ?? [];
}

/** Who is in the compartment: one id, or the targets of another resource's reference parameter. */
export type CompartmentMembers = string | NonNullable<AccessCompartment['via']>;

/** `col` names a member of the compartment of `compartment` type. */
function memberSql(b: SqlBuilder, col: string, compartment: string, who: CompartmentMembers): string {
  if (typeof who === 'string') return `${col} = ${b.p(who)}`;
  const v = b.alias('v');
  return `${col} IN (SELECT ${v}.target_id FROM search_reference ${v} WHERE ${v}.id = ${b.p(who.id)} AND ${v}.resource_type = ${b.p(who.type)}
      AND ${v}.param = ${b.p(who.param)} AND ${v}.target_type = ${b.p(compartment)})`;
}

/** `${alias}` is in compartment type/id (its own resource, or linked by a compartment parameter). */
export function inCompartment(b: SqlBuilder, alias: string, compartment: string, who: CompartmentMembers, knownType?: string): string {
  const self = (): string => `(${alias}.resource_type = ${b.p(compartment)} AND ${memberSql(b, `${alias}.id`, compartment, who)})`;
  const m = b.alias('m');
  const exists = (link: string): string => `EXISTS (SELECT 1 FROM search_reference ${m} WHERE ${ownedBy(m, alias)} AND ${link}
      AND ${m}.target_type = ${b.p(compartment)} AND ${memberSql(b, `${m}.target_id`, compartment, who)})`;
  if (knownType) {
    const params = compartmentParams(compartment, knownType);
    if (params.length === 0) return knownType === compartment ? self() : 'false';
    const e = exists(`${m}.param = ANY(${b.p(params, 'text[]')})`);
    return knownType === compartment ? `(${self()} OR ${e})` : e;
  }
  const keys = Object.entries(r4Model().compartments[compartment] ?? {}).flatMap(([t, ps]) => ps.map((p) => `${t}.${p}`));
  return `(${self()} OR ${exists(`(${m}.resource_type || '.' || ${m}.param) = ANY(${b.p(keys, 'text[]')})`)})`;
}

/**
 * A granular filter's criteria over `alias`. Only criteria that are conditions on index rows or on the id (the
 * forms server/auth/access.ts accepts): they hold on any alias that carries (id, resource_type), including the
 * index-row aliases of `_has` and the history table.
 */
function filterSql(b: SqlBuilder, alias: string, criteria: Criterion[]): string {
  return criteria
    .map((c) => {
      if (c.kind === 'id') return `${alias}.id = ANY(${b.p(c.ids, 'text[]')})`;
      const ic = indexCondition(b, c);
      if (!ic) return 'false'; // not a form a scope may take: grants nothing (fail closed)
      const t = b.alias('t');
      const e = `EXISTS (SELECT 1 FROM ${ic.table} ${t} WHERE ${ownedBy(t, alias)} AND ${t}.param = ${b.p(ic.param)} AND ${ic.cond(t)})`;
      return ic.negate ? `NOT ${e}` : e;
    })
    .join(' AND ');
}

/** One rule over `alias` ('true' / 'false' when decided at compile time). */
function ruleSql(b: SqlBuilder, alias: string, rule: AccessRule, knownType: string | undefined): string {
  const conds: string[] = [];
  if (rule.resourceTypes) {
    if (knownType) {
      if (!rule.resourceTypes.includes(knownType)) return 'false';
    } else conds.push(`${alias}.resource_type = ANY(${b.p(rule.resourceTypes, 'text[]')})`);
  }
  const c = rule.compartment;
  if (c) {
    const who: CompartmentMembers | undefined = c.via ?? c.id;
    if (who === undefined) return 'false';
    const shared = c.sharedTypes ?? [];
    if (!(knownType && shared.includes(knownType))) {
      const member = inCompartment(b, alias, c.type, who, knownType);
      if (member === 'false') return 'false';
      conds.push(shared.length && !knownType ? `(${alias}.resource_type = ANY(${b.p(shared, 'text[]')}) OR ${member})` : member);
    }
  }
  if (rule.filter) {
    if (knownType && knownType !== rule.filter.type) return 'false';
    const typed = rule.resourceTypes?.length === 1 && rule.resourceTypes[0] === rule.filter.type;
    if (!knownType && !typed) conds.push(`${alias}.resource_type = ${b.p(rule.filter.type)}`);
    if (rule.filter.criteria.length) conds.push(filterSql(b, alias, rule.filter.criteria));
  }
  return conds.length ? conds.join(' AND ') : 'true';
}

/**
 * Why a reference of `restriction`'s caller does not resolve: for a restricted caller the same words whether the
 * target is missing or outside its access; unrestricted callers are told plainly.
 */
export function unresolvedWhy(restriction: AccessRestriction | undefined): string {
  return referenceable(new SqlBuilder(), 'r', restriction) === 'true'
    ? 'no such resource on this server'
    : 'no such resource on this server, or none your access token may reference';
}

/**
 * Whether `${alias}` is a resource the caller may reference in a write: one it may use in any way (read, search,
 * create, update or delete under some rule), the compartment it acts in (its patient: a `patient/Observation.c`
 * token writes Observations about a Patient it cannot read), or `self` (its own `fhirUser`). A write's reference
 * to anything else is refused like a reference to nothing (422 "does not resolve"), so that the answer never tells
 * a restricted caller whether an id it cannot see exists.
 */
export function referenceable(b: SqlBuilder, alias: string, restriction: AccessRestriction | undefined, self?: string): string {
  if (!restriction) return 'true';
  const any = visible(b, alias, restriction, undefined, PERMISSIONS);
  if (any === 'true') return any;
  const anchors = new Map<string, { type: string; id: string }>();
  for (const rule of rulesFor(restriction, PERMISSIONS)) {
    const c = rule.compartment;
    if (c?.id !== undefined) anchors.set(`${c.type}/${c.id}`, { type: c.type, id: c.id });
  }
  const slash = self?.indexOf('/') ?? -1;
  if (self && slash > 0) anchors.set(self, { type: self.slice(0, slash), id: self.slice(slash + 1) });
  const ors = any === 'false' ? [] : [`(${any})`];
  for (const a of anchors.values()) ors.push(`(${alias}.resource_type = ${b.p(a.type)} AND ${alias}.id = ${b.p(a.id)})`);
  if (ors.length === 0) return 'false';
  return ors.length === 1 ? ors[0] : `(${ors.join(' OR ')})`;
}

/**
 * Whether `restriction` puts no row-level condition on resources of `type` for `use`: no restriction at all, or a
 * rule of `use` covering the type with neither a compartment (or one the type is shared outside of) nor a filter —
 * e.g. `system/*.cruds`. Such access needs no check on the rows: what the caller reads or writes of that type is
 * the same as without a token.
 */
export function unrestrictedFor(restriction: AccessRestriction | undefined, use: AccessUse, type: string): boolean {
  if (!restriction) return true;
  return visible(new SqlBuilder(), 'r', restriction, type, use) === 'true';
}

/**
 * The access predicate for one resource alias ('true' when unrestricted): the union of the rules of `use`.
 * `knownType` decides type conditions at compile time.
 */
export function visible(b: SqlBuilder, alias: string, restriction: AccessRestriction | undefined, knownType?: string, use: AccessUse = 's'): string {
  if (!restriction) return 'true';
  const ors: string[] = [];
  // A rule decided at compile time leaves no bind parameters behind (PostgreSQL refuses unused untyped ones).
  const start = b.params.length;
  for (const rule of rulesFor(restriction, use)) {
    const mark = b.params.length;
    const sql = ruleSql(b, alias, rule, knownType);
    if (sql === 'true') {
      b.params.length = start;
      return 'true';
    }
    if (sql === 'false') b.params.length = mark;
    else ors.push(sql);
  }
  if (ors.length === 0) return 'false';
  return ors.length === 1 ? ors[0] : `(${ors.map((s) => `(${s})`).join(' OR ')})`;
}
