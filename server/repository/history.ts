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
import type { Db } from '../database/pool';
import { decodeCursor, encodeCursor, type PagePosition } from './cursor';
import { assertId, assertResourceType } from './identity';
import { visible, type AccessRestriction } from './search/compile/access';
import { SqlBuilder } from './search/compile/sql';
import { INSTANT_SQL } from './writes';

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

/** A history page continues after (lastUpdated, id, type, version) of its last entry, pinned to its horizon. */
const fits = (c: PagePosition): boolean =>
  c.section === 0 && c.keys.length === 4 && c.keys.every((k) => k !== null) && !Number.isNaN(Date.parse(c.pin ?? ''));

/**
 * The application_name of sessions that only read inside long transactions (bulk export cursors, in READ ONLY
 * transactions): they can never commit a version, so they do not hold the horizon back.
 */
export const READ_ONLY_APPLICATION_NAME = 'arogya-export';

/**
 * Sessions that can never commit a resource version: the export's read-only cursors and the connections of the
 * job and event queues (pg-boss runs only its own statements on them; the work it schedules writes through the
 * serving pool), the outbox dispatcher's transactions (events/pipeline.ts names them so with SET LOCAL) and the
 * websocket LISTEN client. A transaction of theirs does not hold the horizon back — under
 * load a queue's maintenance transaction would otherwise hide a just-committed write from history for its length.
 */
export const EVENTS_APPLICATION_NAME = 'arogya-events';
const NEVER_WRITE_VERSIONS = [READ_ONLY_APPLICATION_NAME, 'arogya-jobs', EVENTS_APPLICATION_NAME, 'arogya-ws-listener'];

export async function readHorizon(db: Db): Promise<string> {
  const { rows } = await db.query<{ h: string }>(
    `SELECT ${INSTANT_SQL("date_trunc('milliseconds', least(clock_timestamp(), (SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND application_name <> ALL($1::text[]))))")} AS h`,
    [NEVER_WRITE_VERSIONS],
  );
  return rows[0].h;
}

/** A page of history, under the caller's access restriction (a version is listed when its resource is visible). */
export async function history(db: Db, q: HistoryQuery, access?: AccessRestriction): Promise<HistoryPage> {
  if (q.resourceType) assertResourceType(q.resourceType);
  if (q.id) assertId(q.id);
  const cursor = q.cursor ? decodeCursor(q.cursor, fits) : undefined;
  const horizon = cursor?.pin ?? (await readHorizon(db));
  const b = new SqlBuilder();
  // An instance's history shows every committed version (read-your-writes: a client's DELETE is in the history it
  // asks for next, whatever else is open). Versions of one resource cannot commit out of order (each takes the
  // previous one's row lock first), and a version committing after this read has lastUpdated at or after the horizon
  // returned as the bundle's meta.lastUpdated, so a `_since=<that>` poll still sees it; at worst it sees a version
  // twice. Type and system history stop at the horizon, so a feed's pages hold still.
  const where: string[] = q.id ? [] : [`h.last_updated < ${b.p(horizon, 'timestamptz')}`];
  if (q.resourceType) where.push(`h.resource_type = ${b.p(q.resourceType)}`);
  // always true: it lets system level walk resource_last_updated, partial on it (migration 20261127001000)
  else where.push('h.version_id > 0');
  if (q.id) where.push(`h.id = ${b.p(q.id)}`);
  if (q.since) where.push(`h.last_updated >= ${b.p(q.since, 'timestamptz')}`);
  if (q.at) {
    where.push(`h.last_updated < ${b.p(q.at.high, 'timestamptz')}`);
    where.push(`NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.id = h.id AND n.resource_type = h.resource_type
                  AND n.version_id = h.version_id + 1 AND n.last_updated <= ${b.p(q.at.low, 'timestamptz')})`);
  }
  if (access) where.push(visible(b, 'h', access, q.resourceType, q.id ? 'r' : 's'));
  const filter = where.join(' AND ');
  const counted = [...b.params];
  const page: string[] = [];
  if (cursor) {
    const [lu, id, rt, v] = cursor.keys;
    page.push(
      `(h.last_updated, h.id, h.resource_type, h.version_id) < (${b.p(lu, 'timestamptz')}, ${b.p(id)}, ${b.p(rt)}, ${b.p(Number(v), 'int')})`,
    );
  }
  const { rows } = await db.query<{
    id: string;
    resource_type: string;
    version_id: number;
    lu: string;
    lu_exact: string;
    deleted: boolean;
    method: string;
    content: string | null;
  }>(
    `SELECT h.id, h.resource_type, h.version_id, ${INSTANT_SQL('h.last_updated')} AS lu, h.last_updated AS lu_exact,
            h.deleted, h.method, h.content
       FROM resource_history h WHERE ${[filter, ...page].join(' AND ')}
      ORDER BY h.last_updated DESC, h.id DESC, h.resource_type DESC, h.version_id DESC
      LIMIT ${q.count + 1}`,
    b.params,
  );
  const entries = rows.slice(0, q.count);
  const result: HistoryPage = {
    horizon,
    entries: entries.map((r) => ({
      resourceType: r.resource_type,
      id: r.id,
      versionId: r.version_id,
      lastUpdated: r.lu,
      deleted: r.deleted,
      method: r.method,
      content: r.content,
    })),
  };
  if (rows.length > q.count) {
    const last = entries[entries.length - 1];
    result.next = encodeCursor({ section: 0, keys: [last.lu_exact, last.id, last.resource_type, String(last.version_id)], pin: horizon });
  }
  if (q.id && q.resourceType && !q.since && !q.at) {
    // every version the caller may see (none: the resource is unknown to them)
    const t = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource_history h WHERE ${filter}`, counted);
    result.total = t.rows[0].n;
  }
  return result;
}
