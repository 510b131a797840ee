/**
 * Custom SearchParameters in the database (migration 20261127000810): the write hook that records a stored
 * SearchParameter's definition and queues its reindex in the same transaction as the write, the registry sync
 * that every server process runs (fhir/search/registry.ts is per process), and the status the `$reindex-status`
 * operation reports. The reindex job itself is reindex.ts.
 *
 * Two SearchParameters may not serve the same code on the same base: the write hook takes a transaction-scoped
 * advisory lock per (base, code) and refuses the second with a 409 naming the first.
 */
import type { Pool, PoolClient } from '../../database/pool';
import { checkSearchParameter, definitionFrom, registryEntries, sameIndex, type CustomParamDefinition } from '../../fhir/search/custom';
import { setCustomParameters, type ActiveSearchParam } from '../../fhir/search/registry';
import { parseStoredJson } from '../../fhir/json';
import { OperationOutcomeError, conflict, issue } from '../../fhir/outcome';
import type { VersionWrite } from '../writes';

export type ReindexStatus = 'pending' | 'active' | 'failed' | 'retired';

export interface SearchParameterState {
  id: string;
  versionId: number;
  status: ReindexStatus;
  definition: CustomParamDefinition;
  registeredAt: string;
  total: number | null;
  done: number;
  phase?: string;
  error?: string;
  startedAt?: string;
  finishedAt?: string;
}

interface StateRow {
  id: string;
  version_id: number;
  status: ReindexStatus;
  definition: string;
  registered_at: string;
  total: number | null;
  done: number;
  cursor: string | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
}

const STATE_COLUMNS = `id, version_id, status, definition, registered_at, total, done, cursor, error, started_at, finished_at`;

function fromRow(r: StateRow): SearchParameterState | undefined {
  // Our own plain JSON (no resource bodies): JSON.parse is right here.
  const definition = definitionFrom(JSON.parse(r.definition));
  if (!definition) return undefined;
  const cursor = r.cursor ? (JSON.parse(r.cursor) as { phase?: string }) : undefined;
  return {
    id: r.id,
    versionId: r.version_id,
    status: r.status,
    definition,
    registeredAt: r.registered_at,
    total: r.total,
    done: r.done,
    phase: cursor?.phase,
    error: r.error ?? undefined,
    startedAt: r.started_at ?? undefined,
    finishedAt: r.finished_at ?? undefined,
  };
}

/** Reindex progress in percent: 100 once active; at most 99 while the job still runs. */
export function percentOf(s: Pick<SearchParameterState, 'status' | 'total' | 'done'>): number {
  if (s.status === 'active') return 100;
  if (!s.total) return 0;
  return Math.min(99, Math.floor((100 * s.done) / s.total));
}

/** `Patient/nhid`: a (base, code) pair (both are plain names: no '/' in either). */
const pairs = (d: CustomParamDefinition | undefined): string[] => (d ? d.base.map((b) => `${b}/${d.code}`) : []);

/**
 * The write hook (Repository.executeWrites, inside the writing transaction): for each SearchParameter version
 * written, records its definition — pending, with a fresh reindex — or retires it when it was deleted or is no
 * longer active. A version that indexes the same values as the current one keeps its state (no reindex).
 */
export async function recordSearchParameterWrites(client: PoolClient, writes: VersionWrite[]): Promise<void> {
  for (const w of writes) {
    if (w.resourceType !== 'SearchParameter') continue;
    const check = w.content !== undefined ? checkSearchParameter(parseStoredJson(w.content)) : undefined;
    if (check?.kind === 'refused') throw new OperationOutcomeError(422, check.issues);
    const next = check?.kind === 'served' ? check.definition : undefined;
    const { rows } = await client.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM search_parameter_state WHERE id = $1 FOR UPDATE`, [w.id]);
    const cur = rows[0] ? fromRow(rows[0]) : undefined;
    const live = cur && cur.status !== 'retired' ? cur.definition : undefined;
    // (base, code) locks in a fixed order: concurrent definitions of one code serialise, others never wait.
    const keys = [...new Set([...pairs(live), ...pairs(next)])].sort();
    for (const k of keys) await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('arogya-search-parameter:' || $1, 0))`, [k]);

    if (next) {
      const { rows: clash } = await client.query<{ id: string }>(
        `SELECT id FROM search_parameter_state
          WHERE id <> $1 AND status <> 'retired' AND definition->>'code' = $2 AND (definition->'base') ?| $3::text[] LIMIT 1`,
        [w.id, next.code, next.base],
      );
      if (clash.length) {
        throw conflict(`SearchParameter/${clash[0].id} already defines '${next.code}' for ${next.base.join(', ')}: delete or retire it first`);
      }
    }
    // Pairs no longer served by this parameter: their rows are garbage. Pairs it serves now: never purged.
    const gone = pairs(live).filter((k) => !pairs(next).includes(k));
    for (const k of gone) {
      const [type, code] = k.split('/');
      await client.query(`INSERT INTO search_parameter_purge (resource_type, code) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [type, code]);
    }
    for (const k of pairs(next)) {
      const [type, code] = k.split('/');
      await client.query(`DELETE FROM search_parameter_purge WHERE resource_type = $1 AND code = $2`, [type, code]);
    }

    if (!next) {
      if (cur && cur.status !== 'retired') {
        await client.query(
          `UPDATE search_parameter_state SET status = 'retired', version_id = $2, lease_owner = NULL, lease_until = NULL, finished_at = now() WHERE id = $1`,
          [w.id, w.versionId],
        );
      }
      continue;
    }
    if (cur && live && cur.status !== 'failed' && sameIndex(live, next)) {
      await client.query(`UPDATE search_parameter_state SET version_id = $2, definition = $3::jsonb WHERE id = $1`, [
        w.id,
        w.versionId,
        JSON.stringify(next),
      ]);
      continue;
    }
    await client.query(
      `INSERT INTO search_parameter_state (id, version_id, status, definition, registered_at)
       VALUES ($1, $2, 'pending', $3::jsonb, now())
       ON CONFLICT (id) DO UPDATE SET version_id = EXCLUDED.version_id, status = 'pending', definition = EXCLUDED.definition,
         registered_at = now(), cursor = NULL, total = NULL, done = 0, attempts = 0, lease_owner = NULL, lease_until = NULL,
         error = NULL, started_at = NULL, finished_at = NULL`,
      [w.id, w.versionId, JSON.stringify(next)],
    );
  }
}

/** Every custom parameter that is not retired. */
export async function loadSearchParameterStates(db: Pool | PoolClient): Promise<SearchParameterState[]> {
  const { rows } = await db.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM search_parameter_state WHERE status <> 'retired' ORDER BY id`);
  return rows.map(fromRow).filter((s): s is SearchParameterState => s !== undefined);
}

export async function searchParameterState(db: Pool | PoolClient, id: string): Promise<SearchParameterState | undefined> {
  const { rows } = await db.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM search_parameter_state WHERE id = $1`, [id]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** This process's registry ← the database (every server process runs this on a timer; see reindex.ts). */
export async function syncSearchParameterRegistry(db: Pool | PoolClient): Promise<void> {
  const states = await loadSearchParameterStates(db);
  const entries: { type: string; param: ActiveSearchParam }[] = [];
  for (const s of states) {
    const status = s.status === 'retired' ? undefined : s.status;
    if (!status) continue;
    entries.push(...registryEntries(s.definition, { id: s.id, versionId: s.versionId, status, percent: percentOf(s), error: s.error }));
  }
  setCustomParameters(entries);
}

/** `$reindex`: start the reindex of a parameter's current version over (e.g. after a failure). */
export async function restartReindex(db: Pool | PoolClient, id: string): Promise<SearchParameterState> {
  const { rows } = await db.query<StateRow>(
    `UPDATE search_parameter_state SET status = 'pending', registered_at = now(), cursor = NULL, total = NULL, done = 0, attempts = 0,
            lease_owner = NULL, lease_until = NULL, error = NULL, started_at = NULL, finished_at = NULL
      WHERE id = $1 AND status <> 'retired' RETURNING ${STATE_COLUMNS}`,
    [id],
  );
  const s = rows[0] ? fromRow(rows[0]) : undefined;
  if (!s)
    throw new OperationOutcomeError(409, [
      issue('error', 'conflict', `SearchParameter/${id} is not an active custom search parameter: nothing to reindex`),
    ]);
  return s;
}
