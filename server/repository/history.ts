/**
 * History (https://hl7.org/fhir/R4/http.html#history) at instance, type and system level, newest first, with
 * `_since`, `_at` and keyset paging.
 *
 * The commit horizon. A version's lastUpdated is taken inside its writing transaction, which may commit after a
 * history query has run; a client that then asks `_since=<that query's time>` would miss it forever. So a history
 * query only returns versions older than the horizon — the start of the oldest transaction still open on the
 * database (or now) — read in a statement *before* the one that reads the versions. Anything with an earlier
 * lastUpdated has committed by then (and is visible to the later statement); anything still in flight will get
 * a lastUpdated at or after the horizon. The bundle reports the horizon as its meta.lastUpdated, and page links
 * carry it so pages are stable.
 */
import type { Pool } from '../database/pool';
import { badRequest } from '../fhir/outcome';
import { INSTANT_SQL } from './writes';
import { assertId, assertResourceType } from './repository';

export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  /** `_since`: versions with lastUpdated ≥ this instant. */
  since?: string;
  /** `_at`: versions current at some point in [low, high). */
  at?: { low: string; high: string };
  count: number;
  /** Opaque continuation from a previous page. */
  cursor?: string;
}

export interface HistoryEntry {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  method: string;
  content: string | null;
}

export interface HistoryPage {
  entries: HistoryEntry[];
  /** The horizon (FHIR instant) this page and its successors are bounded by. */
  horizon: string;
  /** Cursor for the next page, when there is one. */
  next?: string;
  /** Total number of versions (instance level only; cheap there). */
  total?: number;
}

interface Cursor {
  h: string; // horizon (ISO)
  lu?: string; // last entry's lastUpdated
  id?: string;
  rt?: string;
  v?: number;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(s: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Cursor;
    if (typeof c.h !== 'string' || Number.isNaN(Date.parse(c.h))) throw new Error('bad horizon');
    return c;
  } catch {
    throw badRequest('Invalid or corrupted paging cursor (_cursor)');
  }
}

/**
 * The application_name of sessions that only read inside long transactions (bulk export cursors, in READ ONLY
 * transactions): they can never commit a version, so they do not hold the horizon back.
 */
export const READ_ONLY_APPLICATION_NAME = 'arogya-export';

export async function readHorizon(pool: Pool): Promise<string> {
  const { rows } = await pool.query<{ h: string }>(
    `SELECT ${INSTANT_SQL("date_trunc('milliseconds', least(clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND application_name IS DISTINCT FROM $1)))")} AS h`,
    [READ_ONLY_APPLICATION_NAME],
  );
  return rows[0].h;
}

export async function history(pool: Pool, q: HistoryQuery): Promise<HistoryPage> {
  if (q.resourceType) assertResourceType(q.resourceType);
  if (q.id) assertId(q.id);
  const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
  const horizon = cursor?.h ?? (await readHorizon(pool));
  const params: unknown[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const where: string[] = [`h.last_updated < ${p(horizon)}::timestamptz`];
  if (q.resourceType) where.push(`h.resource_type = ${p(q.resourceType)}`);
  // always true: it lets system level walk resource_last_updated, partial on it (migration 20261127001000)
  else where.push('h.version_id > 0');
  if (q.id) where.push(`h.id = ${p(q.id)}`);
  if (q.since) where.push(`h.last_updated >= ${p(q.since)}::timestamptz`);
  if (q.at) {
    where.push(`h.last_updated < ${p(q.at.high)}::timestamptz`);
    where.push(`NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.id = h.id AND n.resource_type = h.resource_type
                  AND n.version_id = h.version_id + 1 AND n.last_updated <= ${p(q.at.low)}::timestamptz)`);
  }
  if (cursor?.lu) {
    where.push(
      `(h.last_updated, h.id, h.resource_type, h.version_id) < (${p(cursor.lu)}::timestamptz, ${p(cursor.id)}, ${p(cursor.rt)}, ${p(cursor.v)}::int)`,
    );
  }
  const limit = q.count + 1;
  const { rows } = await pool.query<{
    id: string; resource_type: string; version_id: number; lu: string; lu_exact: string; deleted: boolean; method: string; content: string | null;
  }>(
    `SELECT h.id, h.resource_type, h.version_id, ${INSTANT_SQL('h.last_updated')} AS lu, h.last_updated AS lu_exact,
            h.deleted, h.method, h.content
       FROM resource_history h WHERE ${where.join(' AND ')}
      ORDER BY h.last_updated DESC, h.id DESC, h.resource_type DESC, h.version_id DESC
      LIMIT ${limit}`,
    params,
  );
  const page = rows.slice(0, q.count);
  const result: HistoryPage = {
    horizon,
    entries: page.map((r) => ({
      resourceType: r.resource_type, id: r.id, versionId: r.version_id, lastUpdated: r.lu, deleted: r.deleted, method: r.method, content: r.content,
    })),
  };
  if (rows.length > q.count) {
    const last = page[page.length - 1];
    result.next = encodeCursor({ h: horizon, lu: last.lu_exact, id: last.id, rt: last.resource_type, v: last.version_id });
  }
  if (q.id && q.resourceType && !q.since && !q.at) {
    const t = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM resource_history WHERE id = $1 AND resource_type = $2 AND last_updated < $3::timestamptz`,
      [q.id, q.resourceType, horizon],
    );
    result.total = t.rows[0].n;
  }
  return result;
}
