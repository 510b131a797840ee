/**
 * The storage side of `$everything` (https://hl7.org/fhir/R4/patient-operation-everything.html,
 * https://hl7.org/fhir/R4/encounter-operation-everything.html): the focal resource, its compartment, and every
 * resource those reference — one index-backed statement per page.
 *
 * Compartment membership comes from `resource_link` (every current reference, indexed by target): a resource is in
 * the Patient (Encounter) compartment when it references the focal resource and its type belongs to the
 * compartment (the R4 CompartmentDefinition lists a search parameter for it). Membership is decided by the
 * reference, not by which parameter holds it — a resource of a compartment type that references the patient from
 * an element outside the compartment's parameters is included too (more, never less).
 *
 * Order is stable — the focal resource, then members, then referenced resources, each by (type, id) — and pages
 * continue from a keyset cursor, so paging neither skips nor repeats resources.
 */
import type { Db } from '../database/pool';
import { r4Model } from '../fhir/definitions';
import { decodeCursor, encodeCursor, type PagePosition } from './cursor';
import type { StoredVersion } from './versions';
import { SEE, visible, type AccessRestriction } from './search/compile/access';
import { SqlBuilder } from './search/compile/sql';
import { INSTANT_SQL } from './writes';

export type EverythingCompartment = 'Patient' | 'Encounter';

export interface EverythingQuery {
  compartment: EverythingCompartment;
  id: string;
  /** `_since`: only resources with lastUpdated ≥ this instant. */
  since?: string;
  /** `_type`: only these resource types. */
  types?: string[];
  count: number;
  /** Opaque continuation from a previous page. */
  cursor?: string;
}

export interface EverythingEntry extends StoredVersion {
  /** `match`: the focal resource or a compartment member; `include`: referenced by one of those. */
  mode: 'match' | 'include';
}

export interface EverythingPage {
  entries: EverythingEntry[];
  total: number;
  next?: string;
}

/** Resource types with at least one parameter in the compartment definition. */
export function compartmentTypes(compartment: EverythingCompartment): string[] {
  return Object.entries(r4Model().compartments[compartment] ?? {})
    .filter(([, params]) => params.length > 0)
    .map(([type]) => type)
    .sort();
}

/** A page continues after the (type, id) of its last resource, in that resource's section (its rank). */
const fits = (c: PagePosition): boolean => c.section <= 2 && c.keys.length === 2 && c.keys.every((k) => k !== null);

/** A page of `$everything`, under the caller's access restriction (inside the statement: totals and pages agree). */
export async function everything(db: Db, q: EverythingQuery, access?: AccessRestriction): Promise<EverythingPage> {
  const b = new SqlBuilder();
  const id = b.p(q.id);
  const type = b.p(q.compartment);
  const members = b.p(compartmentTypes(q.compartment), 'text[]');
  const filters = ['NOT r.deleted'];
  if (q.since) filters.push(`r.last_updated >= ${b.p(q.since, 'timestamptz')}`);
  if (q.types) filters.push(`r.resource_type = ANY(${b.p(q.types, 'text[]')})`);
  // the compartment's members and what they reference: each one the caller could read or search
  if (access) filters.push(visible(b, 'r', access, undefined, SEE));
  const set = `
    WITH members AS (
      SELECT l.resource_type, l.id FROM resource_link l
       WHERE l.target_id = ${id} AND l.target_type = ${type} AND l.resource_type = ANY(${members})
      UNION
      SELECT ${type}::text, ${id}::text
    ),
    referenced AS (
      SELECT l.target_type AS resource_type, l.target_id AS id
        FROM resource_link l JOIN members m ON l.id = m.id AND l.resource_type = m.resource_type
      EXCEPT
      SELECT resource_type, id FROM members
    ),
    everything AS (
      SELECT resource_type, id, CASE WHEN resource_type = ${type} AND id = ${id} THEN 0 ELSE 1 END AS rank FROM members
      UNION ALL
      SELECT resource_type, id, 2 FROM referenced
    )`;
  const from = `FROM everything e JOIN resource r ON r.id = e.id AND r.resource_type = e.resource_type WHERE ${filters.join(' AND ')}`;
  const totalParams = [...b.params];
  let page = '';
  if (q.cursor) {
    const c = decodeCursor(q.cursor, fits);
    page = ` AND (e.rank, r.resource_type, r.id) > (${b.p(c.section, 'int')}, ${b.p(c.keys[0], 'text')}, ${b.p(c.keys[1], 'text')})`;
  }
  const [rows, total] = await Promise.all([
    q.count === 0
      ? { rows: [] }
      : db.query<{ rank: number; resource_type: string; id: string; version_id: number; last_updated: string; content: string }>(
          `${set}
       SELECT e.rank, r.resource_type, r.id, r.version_id, ${INSTANT_SQL('r.last_updated')} AS last_updated, r.content
       ${from}${page}
       ORDER BY e.rank, r.resource_type, r.id LIMIT ${q.count + 1}`,
          b.params,
        ),
    db.query<{ n: number }>(`${set} SELECT count(*)::int AS n ${from}`, totalParams),
  ]);
  const list = rows.rows.slice(0, q.count);
  const out: EverythingPage = {
    entries: list.map((r) => ({
      resourceType: r.resource_type,
      id: r.id,
      versionId: r.version_id,
      lastUpdated: r.last_updated,
      deleted: false,
      content: r.content,
      mode: r.rank === 2 ? 'include' : 'match',
    })),
    total: total.rows[0].n,
  };
  if (q.count > 0 && rows.rows.length > q.count) {
    const last = list[list.length - 1];
    out.next = encodeCursor({ section: last.rank, keys: [last.resource_type, last.id] });
  }
  return out;
}
