/**
 * The reads of a bulk export (jobs/export.ts writes the files): one statement per resource type, read through a
 * server-side cursor in batches on a connection of its own (ExportSession), so memory stays bounded.
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
import Cursor from 'pg-cursor';
import type { Db, Pool, PoolClient } from '../database/pool';
import { compartmentTypes } from './everything';
import { READ_ONLY_APPLICATION_NAME } from './history';
import type { Criterion } from '../fhir/search/criteria';
import { visible, type AccessRestriction } from './search/compile/access';
import { compileCriteria } from './search/compile/planner';
import { SqlBuilder } from './search/compile/sql';

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
  return [...new Set([...compartmentTypes('Patient'), 'Patient'])].sort();
}

export function exportStatement(sel: ExportSelection, access?: AccessRestriction): { text: string; values: unknown[] } {
  const b = new SqlBuilder();
  const rt = b.p(sel.resourceType);
  const horizon = b.p(sel.horizon, 'timestamptz');
  const since = sel.since !== undefined ? b.p(sel.since, 'timestamptz') : undefined;

  const shared: string[] = [];
  if (sel.filters.length) {
    const ors = sel.filters.map((criteria) => `(${compileCriteria(sel.resourceType, criteria, b.params).sql})`);
    shared.push(`(${ors.join(' OR ')})`);
  }
  if (sel.patients) {
    if (sel.resourceType === 'Patient') {
      if (sel.patients.kind === 'ids') shared.push(`r.id = ANY(${b.p(sel.patients.ids, 'text[]')})`);
    } else if (sel.patients.kind === 'all') {
      shared.push(`EXISTS (SELECT 1 FROM resource_link l WHERE l.id = r.id AND l.resource_type = r.resource_type AND l.target_type = 'Patient')`);
    } else {
      shared.push(
        `r.id IN (SELECT l.id FROM resource_link l WHERE l.target_id = ANY(${b.p(sel.patients.ids, 'text[]')}) AND l.target_type = 'Patient' AND l.resource_type = ${rt})`,
      );
    }
  }
  if (access) shared.push(visible(b, 'r', access, sel.resourceType));
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
  return { text, values: b.params };
}

/**
 * The resources of a type deleted in [since, horizon) and still deleted at the horizon (the manifest's `deleted`
 * files of a `_since` export). Compartment membership is read from the references of the version before the
 * deletion (a deletion has no links); `_typeFilter` cannot be evaluated on a deleted resource, so every deletion
 * of the type is listed (a client deleting what it never had loses nothing).
 */
export function deletedStatement(sel: ExportSelection & { since: string }, access?: AccessRestriction): { text: string; values: unknown[] } {
  const b = new SqlBuilder();
  const horizon = b.p(sel.horizon, 'timestamptz');
  const where = [
    `h.resource_type = ${b.p(sel.resourceType)}`,
    'h.deleted',
    `h.last_updated >= ${b.p(sel.since, 'timestamptz')}`,
    `h.last_updated < ${horizon}`,
    `NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.id = h.id AND n.resource_type = h.resource_type
                  AND n.version_id > h.version_id AND n.last_updated < ${horizon})`,
  ];
  // compartment membership of a deletion: what the version before it referenced (a deletion has no links)
  const referencedBefore = (match: string): string => `EXISTS (SELECT 1 FROM resource_history b, jsonb_path_query(b.content, '$.**.reference') ref
                           WHERE b.id = h.id AND b.resource_type = h.resource_type AND b.version_id = h.version_id - 1 AND ${match})`;
  if (sel.patients) {
    if (sel.resourceType === 'Patient') {
      if (sel.patients.kind === 'ids') where.push(`h.id = ANY(${b.p(sel.patients.ids, 'text[]')})`);
    } else {
      const match =
        sel.patients.kind === 'all'
          ? `(ref #>> '{}') LIKE 'Patient/%'`
          : `(ref #>> '{}') = ANY(${b.p(
              sel.patients.ids.map((id) => `Patient/${id}`),
              'text[]',
            )})`;
      where.push(referencedBefore(match));
    }
  }
  if (access) where.push(deletionVisible(b, access, sel.resourceType, referencedBefore));
  return { text: `SELECT h.id FROM resource_history h WHERE ${where.join(' AND ')}`, values: b.params };
}

/**
 * The caller's search access to a deletion of `type` (a deletion has no index rows): a rule's types decide, and
 * its compartment is matched on what the version before the deletion referenced. A granular rule cannot be
 * evaluated on a deletion, so it lists none (fail closed).
 */
function deletionVisible(b: SqlBuilder, access: AccessRestriction, type: string, referencedBefore: (match: string) => string): string {
  const rules = (access.rules.s ?? []).filter((r) => (!r.resourceTypes || r.resourceTypes.includes(type)) && !r.filter);
  if (rules.some((r) => !r.compartment || r.compartment.sharedTypes?.includes(type))) return 'true';
  const ors = rules.flatMap((r) => {
    const c = r.compartment!;
    const who = c.via ?? c.id;
    if (who === undefined) return [];
    const ids =
      typeof who === 'string'
        ? `ARRAY[${b.p(who)}]`
        : `ARRAY(SELECT v.target_id FROM search_reference v WHERE v.id = ${b.p(who.id)} AND v.resource_type = ${b.p(who.type)}
                 AND v.param = ${b.p(who.param)} AND v.target_type = ${b.p(c.type)})`;
    if (type === c.type) return [`h.id = ANY(${ids})`];
    return [referencedBefore(`(ref #>> '{}') = ANY(SELECT ${b.p(c.type)} || '/' || x FROM unnest(${ids}) x)`)];
  });
  return ors.length ? `(${ors.join(' OR ')})` : 'false';
}

/** The resource types that have at least one row (a loose index scan over resource_type_last_updated). */
const PRESENT_TYPES_SQL = `WITH RECURSIVE t AS (
    SELECT min(resource_type) AS rt FROM resource
    UNION ALL
    SELECT (SELECT min(resource_type) FROM resource WHERE resource_type > t.rt) FROM t WHERE t.rt IS NOT NULL
  ) SELECT rt FROM t WHERE rt IS NOT NULL`;

/** The resource types that have at least one row. */
export async function presentTypes(db: Db): Promise<string[]> {
  return (await db.query<{ rt: string }>(PRESENT_TYPES_SQL)).rows.map((r) => r.rt);
}

const BATCH = 1000;

/**
 * The reads of one export run, on one connection of their own: each statement runs through a server-side cursor in
 * a READ ONLY transaction, a batch of rows at a time. The connection is marked read-only (READ_ONLY_APPLICATION_NAME)
 * so its long transactions never hold back the commit horizon (history.ts).
 */
export class ExportSession {
  private broken?: Error;
  private constructor(
    private readonly client: PoolClient,
    private readonly access: AccessRestriction | undefined,
  ) {}

  static async open(pool: Pool, access: AccessRestriction | undefined): Promise<ExportSession> {
    const client = await pool.connect();
    try {
      await client.query(`SET application_name = '${READ_ONLY_APPLICATION_NAME}'`);
    } catch (e) {
      client.release(e as Error);
      throw e;
    }
    return new ExportSession(client, access);
  }

  /** The selected resources' JSON text, `batch` of them at a time. */
  resources(sel: ExportSelection, batch: (contents: string[]) => Promise<void>): Promise<void> {
    return this.stream<{ content: string }>(exportStatement(sel, this.access), (rows) => batch(rows.map((r) => r.content)));
  }

  /** The ids of the type's resources deleted in [since, horizon) (the manifest's `deleted` files). */
  deletions(sel: ExportSelection & { since: string }, batch: (ids: string[]) => Promise<void>): Promise<void> {
    return this.stream<{ id: string }>(deletedStatement(sel, this.access), (rows) => batch(rows.map((r) => r.id)));
  }

  private async stream<R extends Record<string, string>>(
    stmt: { text: string; values: unknown[] },
    batch: (rows: R[]) => Promise<void>,
  ): Promise<void> {
    try {
      await this.client.query('BEGIN READ ONLY');
      const cursor = this.client.query(new Cursor<R>(stmt.text, stmt.values));
      try {
        for (;;) {
          const rows = await cursor.read(BATCH);
          if (rows.length === 0) break;
          await batch(rows);
        }
      } finally {
        await cursor.close().catch(() => undefined);
        await this.client.query('COMMIT').catch(() => undefined);
      }
    } catch (e) {
      this.broken = e as Error;
      throw e;
    }
  }

  /** Gives the connection back (a connection that failed mid-cursor is discarded, not reused). */
  async close(): Promise<void> {
    if (!this.broken) await this.client.query('RESET application_name').catch((e: Error) => (this.broken = e));
    this.client.release(this.broken);
  }
}
