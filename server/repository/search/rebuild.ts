/**
 * Rebuilding the search index rows of stored resources (`arogya reindex`): what a write of the same content would
 * write today, for resources written before the extraction learnt something new — a parameter a migration could
 * not fill in SQL (a chain's link into a contained resource, `#localId`; a contained Location's position), or any
 * change of extraction. Custom SearchParameters keep their own background reindex (reindex.ts); this one includes
 * their rows too.
 *
 * Each type's live resources are walked in keyset batches on (last_updated, id) — the resource table's own index —
 * each batch one short transaction: the batch's resources are read FOR SHARE (a concurrent update of one waits for
 * the batch, then replaces its rows with its own), their rows extracted here, and every index table's rows of
 * those resources (and of their contained resources) replaced in one statement (writes.ts rebuildIndexStatement).
 * An update moves a resource further on in the walk, where it is rebuilt again: harmless. Writes go on meanwhile.
 */
import { inTransaction, type Pool } from '../../database/pool';
import { r4Model } from '../../fhir/definitions';
import { parseStoredJson } from '../../fhir/json';
import { extractContainedIndexRows, extractIndexRows, type ExtractOptions } from '../../fhir/search/extract';
import { rebuildIndexStatement } from '../writes';
import { syncSearchParameterRegistry } from './parameters';

export interface RebuildOptions extends Pick<ExtractOptions, 'timeZone' | 'baseUrl'> {
  /** Resource types to rebuild (default: every type). */
  types?: string[];
  /** Resources per transaction. */
  batch?: number;
  /** After each batch: the type, resources done of it so far. */
  onProgress?: (type: string, done: number) => void;
  /** A resource whose rows could not be rebuilt (its old rows are kept), and why. */
  onSkipped?: (type: string, id: string, reason: string) => void;
}

/** Rebuilds the index rows of every live resource of the types; returns how many resources, by type. */
export async function rebuildSearchIndex(pool: Pool, opts: RebuildOptions): Promise<Map<string, number>> {
  const types = opts.types ?? r4Model().resourceTypes;
  const batch = opts.batch ?? 500;
  const extract = { timeZone: opts.timeZone, baseUrl: opts.baseUrl };
  await syncSearchParameterRegistry(pool); // custom parameters are extracted as on a write
  const counts = new Map<string, number>();
  for (const type of types) {
    let after: { lastUpdated: string; id: string } | undefined;
    let done = 0;
    for (;;) {
      const rows = await inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ id: string; last_updated: string; content: string }>(
          `SELECT id, last_updated::text AS last_updated, content FROM resource
            WHERE resource_type = $1 AND NOT deleted${after ? ' AND (last_updated, id) > ($2::timestamptz, $3::text)' : ''}
            ORDER BY last_updated, id LIMIT ${batch}
            FOR SHARE`,
          after ? [type, after.lastUpdated, after.id] : [type],
        );
        if (rows.length === 0) return rows;
        const writes = rows.flatMap((r) => {
          const resource = parseStoredJson(r.content);
          try {
            return [
              { resourceType: type, id: r.id, index: extractIndexRows(resource, extract), contained: extractContainedIndexRows(resource, extract) },
            ];
          } catch (e) {
            // a value a write would refuse today (e.g. longer than an index entry may be): its rows stay as they are
            opts.onSkipped?.(type, r.id, e instanceof Error ? e.message : String(e));
            return [];
          }
        });
        if (writes.length) await client.query(rebuildIndexStatement(writes));
        return rows;
      });
      if (rows.length === 0) break;
      done += rows.length;
      const last = rows[rows.length - 1];
      after = { lastUpdated: last.last_updated, id: last.id };
      opts.onProgress?.(type, done);
      if (rows.length < batch) break;
    }
    if (done) counts.set(type, done);
  }
  return counts;
}
