/**
 * Access predicates (AccessRestriction) come from the caller — later the SMART layer — and are compiled into the
 * same statement for the matches and for every alias a chain, `_has`, `_list` or include reads, so nothing is
 * ever filtered after the fact.
 */
import { r4Model } from '../../../fhir/definitions';
import { ownedBy, type SqlBuilder } from './sql';

/** What a caller may see: applied inside every statement that reads resources for a search. */
export interface AccessRestriction {
  /** Only resources of these types. */
  resourceTypes?: string[];
  /** Only resources in this compartment (CompartmentDefinition membership, e.g. Patient/123)… */
  compartment?: {
    type: string;
    id: string;
    /** …plus resources of these types, which are outside the compartment definition (e.g. Practitioner). */
    sharedTypes?: string[];
  };
}

/** Params linking each resource type to a compartment (CompartmentDefinition), e.g. Observation → subject, performer. */
export function compartmentParams(compartment: string, type: string): string[] {
  return r4Model().compartments[compartment]?.[type] ?? [];
}

/** `${alias}` is in compartment type/id (its own resource, or linked by a compartment parameter). */
export function inCompartment(b: SqlBuilder, alias: string, compartment: string, id: string, knownType?: string): string {
  const self = (): string => `(${alias}.resource_type = ${b.p(compartment)} AND ${alias}.id = ${b.p(id)})`;
  const m = b.alias('m');
  const exists = (link: string): string => `EXISTS (SELECT 1 FROM search_reference ${m} WHERE ${ownedBy(m, alias)} AND ${link}
      AND ${m}.target_type = ${b.p(compartment)} AND ${m}.target_id = ${b.p(id)})`;
  if (knownType) {
    const params = compartmentParams(compartment, knownType);
    if (params.length === 0) return knownType === compartment ? self() : 'false';
    const e = exists(`${m}.param = ANY(${b.p(params, 'text[]')})`);
    return knownType === compartment ? `(${self()} OR ${e})` : e;
  }
  const keys = Object.entries(r4Model().compartments[compartment] ?? {}).flatMap(([t, ps]) => ps.map((p) => `${t}.${p}`));
  return `(${self()} OR ${exists(`(${m}.resource_type || '.' || ${m}.param) = ANY(${b.p(keys, 'text[]')})`)})`;
}

/** The access predicate for one resource alias ('true' when unrestricted). */
export function visible(b: SqlBuilder, alias: string, restriction: AccessRestriction | undefined, knownType?: string): string {
  if (!restriction) return 'true';
  const conds: string[] = [];
  if (restriction.resourceTypes) {
    if (knownType) {
      if (!restriction.resourceTypes.includes(knownType)) return 'false';
    } else conds.push(`${alias}.resource_type = ANY(${b.p(restriction.resourceTypes, 'text[]')})`);
  }
  const c = restriction.compartment;
  if (c) {
    const shared = c.sharedTypes ?? [];
    if (knownType && shared.includes(knownType)) return conds.length ? conds.join(' AND ') : 'true';
    const member = inCompartment(b, alias, c.type, c.id, knownType);
    conds.push(shared.length && !knownType ? `(${alias}.resource_type = ANY(${b.p(shared, 'text[]')}) OR ${member})` : member);
  }
  return conds.length ? conds.join(' AND ') : 'true';
}
