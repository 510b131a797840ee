/**
 * The SQL of a bulk export, one statement per resource type, read through a server-side cursor.
 *
 * Consistency: an export includes exactly the versions with lastUpdated < its transactionTime (the commit horizon,
 * repository/history.ts), each resource as it was at that instant. Current rows older than the horizon are
 * read straight from `resource`; a resource changed since is read from `resource_history` as its last version
 * before the horizon (and left out if that version is a deletion). A later export with `_since=transactionTime`
 * therefore continues exactly where this one stopped: nothing is missed, nothing repeated.
 *
 * Filters (`_typeFilter`, and patient compartment membership through `resource_link`) are evaluated on the
 * indexes of the current version. For the few resources changed after the horizon while the export ran, that is
 * their newest version, not the exported one.
 */
import { r4Model } from '../fhir/definitions';
import { compileCriteria } from '../repository/search/compile/planner';
import type { Criterion } from '../fhir/search/criteria';

export type PatientScope = { kind: 'all' } | { kind: 'ids'; ids: string[] };

export interface ExportSelection {
  resourceType: string;
  horizon: string;
  since?: string;
  /** OR-ed criteria lists (each list AND-ed); empty: every resource of the type. */
  filters: Criterion[][];
  /** Patient compartment restriction (patient- and group-level exports). */
  patients?: PatientScope;
}

/** The resource types of the Patient compartment (CompartmentDefinition `patient`), Patient included. */
export function patientCompartmentTypes(): string[] {
  const types = new Set(Object.entries(r4Model().compartments.Patient ?? {}).filter(([, params]) => params.length > 0).map(([t]) => t));
  types.add('Patient');
  return [...types].sort();
}

export function exportStatement(sel: ExportSelection): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const p = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const rt = p(sel.resourceType);
  const horizon = `${p(sel.horizon)}::timestamptz`;
  const since = sel.since !== undefined ? `${p(sel.since)}::timestamptz` : undefined;

  const shared: string[] = [];
  if (sel.filters.length) {
    const ors = sel.filters.map((criteria) => `(${compileCriteria(sel.resourceType, criteria, values).sql})`);
    shared.push(`(${ors.join(' OR ')})`);
  }
  if (sel.patients) {
    if (sel.resourceType === 'Patient') {
      if (sel.patients.kind === 'ids') shared.push(`r.id = ANY(${p(sel.patients.ids)}::text[])`);
    } else if (sel.patients.kind === 'all') {
      shared.push(`EXISTS (SELECT 1 FROM resource_link l WHERE l.id = r.id AND l.resource_type = r.resource_type AND l.target_type = 'Patient')`);
    } else {
      shared.push(
        `r.id IN (SELECT l.id FROM resource_link l WHERE l.target_id = ANY(${p(sel.patients.ids)}::text[]) AND l.target_type = 'Patient' AND l.resource_type = ${rt})`,
      );
    }
  }
  const and = (conds: string[]): string => conds.map((c) => ` AND ${c}`).join('');
  const current = [`r.resource_type = ${rt}`, 'NOT r.deleted', `r.last_updated < ${horizon}`, ...(since ? [`r.last_updated >= ${since}`] : [])];
  const changed = [`r.resource_type = ${rt}`, `r.last_updated >= ${horizon}`, 'NOT h.deleted', ...(since ? [`h.last_updated >= ${since}`] : [])];
  const text = `SELECT r.content::text AS content FROM resource r WHERE ${current.join(' AND ')}${and(shared)}
    UNION ALL
    SELECT h.content::text AS content FROM resource r
      CROSS JOIN LATERAL (SELECT hh.content, hh.deleted, hh.last_updated FROM resource_history hh
                           WHERE hh.id = r.id AND hh.resource_type = r.resource_type AND hh.last_updated < ${horizon}
                           ORDER BY hh.version_id DESC LIMIT 1) h
     WHERE ${changed.join(' AND ')}${and(shared)}`;
  return { text, values };
}

/**
 * The resources of a type deleted in [since, horizon) and still deleted at the horizon (the manifest's `deleted`
 * files of a `_since` export). Compartment membership is read from the references of the version before the
 * deletion (a deletion has no links); `_typeFilter` cannot be evaluated on a deleted resource, so every deletion
 * of the type is listed (a client deleting what it never had loses nothing).
 */
export function deletedStatement(sel: ExportSelection & { since: string }): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const p = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const horizon = `${p(sel.horizon)}::timestamptz`;
  const where = [
    `h.resource_type = ${p(sel.resourceType)}`,
    'h.deleted',
    `h.last_updated >= ${p(sel.since)}::timestamptz`,
    `h.last_updated < ${horizon}`,
    `NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.id = h.id AND n.resource_type = h.resource_type
                  AND n.version_id > h.version_id AND n.last_updated < ${horizon})`,
  ];
  if (sel.patients) {
    if (sel.resourceType === 'Patient') {
      if (sel.patients.kind === 'ids') where.push(`h.id = ANY(${p(sel.patients.ids)}::text[])`);
    } else {
      const match =
        sel.patients.kind === 'all' ? `(ref #>> '{}') LIKE 'Patient/%'` : `(ref #>> '{}') = ANY(${p(sel.patients.ids.map((id) => `Patient/${id}`))}::text[])`;
      where.push(`EXISTS (SELECT 1 FROM resource_history b, jsonb_path_query(b.content, '$.**.reference') ref
                           WHERE b.id = h.id AND b.resource_type = h.resource_type AND b.version_id = h.version_id - 1 AND ${match})`);
    }
  }
  return { text: `SELECT h.id FROM resource_history h WHERE ${where.join(' AND ')}`, values };
}

/** The resource types that have at least one row (a loose index scan over resource_type_last_updated). */
export const PRESENT_TYPES_SQL = `WITH RECURSIVE t AS (
    SELECT min(resource_type) AS rt FROM resource
    UNION ALL
    SELECT (SELECT min(resource_type) FROM resource WHERE resource_type > t.rt) FROM t WHERE t.rt IS NOT NULL
  ) SELECT rt FROM t WHERE rt IS NOT NULL`;
