/**
 * The search planner: parsed criteria → one SQL predicate over a `resource` alias, every value a bind parameter
 * (nothing from a request ever reaches SQL text). Each criterion is an EXISTS over one index table, correlated on
 * (id, resource_type): PostgreSQL turns it into a semi-join and, for selective criteria, drives the query from the
 * index probe on (resource_type, param, value) — e.g. an ABHA number lookup is one probe of search_token's value
 * index. Chains, `_has` and `_list` nest the same predicates over another resource alias; the access predicate
 * (access.ts) is applied to every alias read. The value conditions of each parameter type are in their own file
 * (token.ts, string.ts, date.ts, …); driven.ts plans a search driven from one criterion's index rows.
 */
import type { Criterion } from '../../../fhir/search/criteria';
import { singleValued } from '../../../fhir/search/paths';
import { registryGeneration, searchParam } from '../../../fhir/search/registry';
import { inCompartment, visible, type AccessRestriction } from './access';
import { indexCondition } from './criterion';
import { instantCondition, splitDateSql } from './date';
import { ownedBy, SqlBuilder, type SqlFragment } from './sql';

/** Whether a criterion reads columns of the resource row itself (not only its id and type). */
export function usesResourceColumns(c: Criterion): boolean {
  return c.kind === 'lastUpdated';
}

/** A contained resource's `_id` is its local id: the code of its `_id` token row (contained.ts). */
export function containedCriterion(c: Criterion): Criterion {
  return c.kind === 'id' ? { kind: 'token', code: '_id', values: c.ids.map((id) => ({ system: null, code: id })) } : c;
}

/**
 * A chain's link into contained resources (search.html#contained): a reference `#localId` is a search_reference
 * row with target_type = the contained resource's type, no target_id and url = '#localId' (fhir/search/extract.ts
 * referenceValues). `from` gives, for such rows `ref`, the contained resource's rows' owner key as `k` (id = the
 * container's, resource_type = '<Type>#<ContainerType>#<localId>'), for the chained criterion to be matched on
 * its own rows. The container is the resource owning `ref` — or, when `ref` belongs to a contained resource
 * itself (a chain on from one), that resource's container. The access restriction is the container's: already
 * applied to it. Undefined when the criterion needs a resource row (`_lastUpdated`: a contained resource has none).
 */
export function containedChain(
  b: SqlBuilder,
  ref: string,
  code: string,
  type: string,
  criterion: Criterion,
  restriction: AccessRestriction | undefined,
): { from: string; where: string } | undefined {
  const inner = containedCriterion(criterion);
  if (usesResourceColumns(inner)) return undefined;
  const k = b.alias('k');
  const container = `CASE WHEN strpos(${ref}.resource_type, '#') > 0 THEN split_part(${ref}.resource_type, '#', 2) ELSE ${ref}.resource_type END`;
  return {
    from: `search_reference ${ref} CROSS JOIN LATERAL (SELECT ${ref}.id AS id, ${ref}.target_type || '#' || ${container} || '#' || substr(${ref}.url, 2) AS resource_type) ${k}`,
    where: `${ref}.param = ${b.p(code)} AND ${ref}.target_id IS NULL AND ${ref}.target_type = ${b.p(type)} AND starts_with(${ref}.url, '#')
              AND ${criterionSql(b, k, inner, restriction, type)}`,
  };
}

/** One criterion as a predicate over `alias` (resources of `knownType`, when a single type). */
export function criterionSql(b: SqlBuilder, alias: string, c: Criterion, restriction?: AccessRestriction, knownType?: string, split = false): string {
  if (split && c.kind === 'date') {
    const sql = splitDateSql(b, alias, c);
    if (sql) return sql;
  }
  const ic = indexCondition(b, c);
  if (ic) {
    const t = b.alias('t');
    const e = `EXISTS (SELECT 1 FROM ${ic.table} ${t} WHERE ${ownedBy(t, alias)} AND ${t}.param = ${b.p(ic.param)} AND ${ic.cond(t)})`;
    return ic.negate ? `NOT ${e}` : e;
  }
  switch (c.kind) {
    case 'id':
      return `${alias}.id = ANY(${b.p(c.ids, 'text[]')})`;
    case 'lastUpdated':
      return `(${c.values.map((v) => instantCondition(b, `${alias}.last_updated`, v)).join(' OR ')})`;
    case 'chain': {
      const ors = c.targets.flatMap(({ type, criterion }) => {
        const ref = b.alias('c');
        const r2 = b.alias('r');
        const out = [
          `EXISTS (SELECT 1 FROM search_reference ${ref} JOIN resource ${r2} ON ${r2}.id = ${ref}.target_id AND ${r2}.resource_type = ${ref}.target_type
            WHERE ${ownedBy(ref, alias)} AND ${ref}.param = ${b.p(c.code)} AND ${ref}.target_type = ${b.p(type)}
              AND NOT ${r2}.deleted AND ${criterionSql(b, r2, criterion, restriction, type)} AND ${visible(b, r2, restriction, type)})`,
        ];
        const cref = b.alias('c');
        const inContained = containedChain(b, cref, c.code, type, criterion, restriction);
        if (inContained) out.push(`EXISTS (SELECT 1 FROM ${inContained.from} WHERE ${ownedBy(cref, alias)} AND ${inContained.where})`);
        return out;
      });
      return ors.length === 1 ? ors[0] : `(${ors.join(' OR ')})`;
    }
    case 'has': {
      const ref = b.alias('h');
      if (!usesResourceColumns(c.criterion)) {
        // The referring resource's reference rows stand for it: they exist only while it is live and carry its
        // (id, resource_type), all the inner criterion and the restriction look at.
        const v = visible(b, ref, restriction, c.type);
        return `EXISTS (SELECT 1 FROM search_reference ${ref}
          WHERE ${ref}.resource_type = ${b.p(c.type)} AND ${ref}.param = ${b.p(c.code)}
            AND ${ref}.target_id = ${alias}.id AND ${ref}.target_type = ${alias}.resource_type
            AND ${criterionSql(b, ref, c.criterion, restriction, c.type)}${v === 'true' ? '' : ` AND ${v}`})`;
      }
      const r2 = b.alias('r');
      return `EXISTS (SELECT 1 FROM search_reference ${ref} JOIN resource ${r2} ON ${r2}.id = ${ref}.id AND ${r2}.resource_type = ${ref}.resource_type
          WHERE ${ref}.resource_type = ${b.p(c.type)} AND ${ref}.param = ${b.p(c.code)}
            AND ${ref}.target_id = ${alias}.id AND ${ref}.target_type = ${alias}.resource_type
            AND NOT ${r2}.deleted AND ${criterionSql(b, r2, c.criterion, restriction, c.type)} AND ${visible(b, r2, restriction, c.type)})`;
    }
    case 'list': {
      const l = b.alias('l');
      const lr = b.alias('r');
      return `EXISTS (SELECT 1 FROM search_reference ${l} JOIN resource ${lr} ON ${lr}.id = ${l}.id AND ${lr}.resource_type = ${l}.resource_type
          WHERE ${l}.resource_type = 'List' AND ${l}.id = ANY(${b.p(c.ids, 'text[]')}) AND ${l}.param = 'item'
            AND ${l}.target_id = ${alias}.id AND ${l}.target_type = ${alias}.resource_type
            AND NOT ${lr}.deleted AND ${visible(b, lr, restriction, 'List')})`;
    }
    case 'compartment':
      return inCompartment(b, alias, c.type, c.id, knownType);
    default:
      throw new Error(`criterion kind ${c.kind} has no SQL`);
  }
}

const single = new Map<string, boolean>();
let singleGeneration = -1;

/** Whether a parameter of a type has at most one value per resource (paths.ts singleValued), cached. */
export function singleValuedParam(type: string, code: string): boolean {
  if (singleGeneration !== registryGeneration()) {
    single.clear();
    singleGeneration = registryGeneration();
  }
  const key = `${type}.${code}`;
  let v = single.get(key);
  if (v === undefined) {
    const p = searchParam(type, code);
    v = !!p && p.expression !== '' && singleValued(p.expression, type);
    single.set(key, v);
  }
  return v;
}

/**
 * Repeated date, number or quantity criteria of one single-valued parameter (`date=ge2024-01-01&date=lt2024-02-01`)
 * become one criterion whose groups are tested on the same index row — the same result, since the resource has
 * one value, and an index range on both bounds instead of two half-open scans. For a parameter with several values
 * per resource each criterion stays separate (each may be met by a different value).
 */
export function mergeRanges(criteria: Criterion[], knownType: string | undefined): Criterion[] {
  if (!knownType) return criteria;
  const out: Criterion[] = [];
  const first = new Map<string, Criterion & { kind: 'date' | 'number' | 'quantity' }>();
  for (const c of criteria) {
    if ((c.kind === 'date' || c.kind === 'number' || c.kind === 'quantity') && singleValuedParam(knownType, c.code)) {
      const key = `${c.kind}\u0000${c.code}`;
      const f = first.get(key);
      if (f) {
        (f.also ??= [] as never[]).push(c.values as never);
        continue;
      }
      const copy = { ...c, also: undefined };
      first.set(key, copy);
      out.push(copy);
      continue;
    }
    out.push(c);
  }
  return out;
}

/** The base predicate of a search over `alias`: its types, not deleted, every criterion, and the restriction. */
export function searchPredicate(
  b: SqlBuilder,
  alias: string,
  types: string[] | undefined,
  criteria: Criterion[],
  restriction?: AccessRestriction,
): string {
  const knownType = types?.length === 1 ? types[0] : undefined;
  const where: string[] = [];
  if (knownType) where.push(`${alias}.resource_type = ${b.p(knownType)}`);
  else if (types) where.push(`${alias}.resource_type = ANY(${b.p(types, 'text[]')})`);
  where.push(`NOT ${alias}.deleted`);
  const merged = mergeRanges(criteria, knownType);
  for (const c of merged) where.push(criterionSql(b, alias, c, restriction, knownType, merged.length > 1));
  const v = visible(b, alias, restriction, knownType);
  if (v !== 'true') where.push(v);
  return where.join('\n  AND ');
}

/** Criteria of a conditional operation as a predicate over `resource r` (repository.findIds). */
export function compileCriteria(resourceType: string, criteria: Criterion[], params: unknown[] = [], restriction?: AccessRestriction): SqlFragment {
  const b = new SqlBuilder(params);
  return { sql: searchPredicate(b, 'r', [resourceType], criteria, restriction), params: b.params };
}
