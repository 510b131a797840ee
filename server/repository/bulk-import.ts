/**
 * The storage side of a bulk import job (jobs/import.ts): batches written through Repository.upsertBatch, each
 * with a record of what it wrote (bulk_import_written) in the same transaction, so the job can check every
 * reference once all its files are in — files arrive in any order, so references are not checked per batch.
 */
import Cursor from 'pg-cursor';
import { inTransaction, type Pool, type PoolClient } from '../database/pool';
import type { JsonObject } from '../fhir/json';
import type { Caller } from './caller';
import { referenceable } from './search/compile/access';
import { SqlBuilder } from './search/compile/sql';

export interface ImportItem {
  /** The line of the input file the resource came from. */
  line: number;
  resourceType: string;
  id: string;
  resource: JsonObject;
}

/** An imported resource's reference that names no current resource. */
export interface DanglingReference {
  input: number;
  line: number;
  resourceType: string;
  id: string;
  targetType: string;
  targetId: string;
}

type Upsert = (client: PoolClient, items: ImportItem[]) => Promise<unknown>;

/** Writes one batch in one transaction; with `record`, notes each (input, line, resource) for the reference check. */
export async function importBatch(pool: Pool, upsert: Upsert, items: ImportItem[], record?: { jobId: string; input: number }): Promise<void> {
  await inTransaction(pool, async (client) => {
    await upsert(client, items);
    if (!record) return;
    await client.query(
      `INSERT INTO bulk_import_written (job_id, input, line, resource_type, id)
       SELECT $1, $2, * FROM unnest($3::int[], $4::text[], $5::text[])`,
      [record.jobId, record.input, items.map((i) => i.line), items.map((i) => i.resourceType), items.map((i) => i.id)],
    );
  });
}

/** Drops a job's record of what it wrote (at its start and end). */
export async function forgetImport(pool: Pool, jobId: string): Promise<void> {
  await pool.query('DELETE FROM bulk_import_written WHERE job_id = $1', [jobId]);
}

/** Every reference of the job's recorded resources that names no current resource, in input and line order, a batch at a time. */
export async function danglingReferences(
  pool: Pool,
  caller: Caller,
  jobId: string,
  batch: (refs: DanglingReference[]) => Promise<void>,
): Promise<void> {
  // A restricted importer's references to what it may not reference are reported as dangling too (as the write
  // engine's 422 does), so the error file never tells it whether an id it cannot see exists.
  const b = new SqlBuilder([jobId]);
  const ok = referenceable(b, 't', caller.access, caller.actor.reference);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN READ ONLY');
    const cursor = client.query(
      new Cursor<{ input: number; line: number; resource_type: string; id: string; target_type: string; target_id: string }>(
        `SELECT w.input, w.line, w.resource_type, w.id, l.target_type, l.target_id
           FROM bulk_import_written w
           JOIN resource_link l ON l.id = w.id AND l.resource_type = w.resource_type
          WHERE w.job_id = $1
            AND NOT EXISTS (SELECT 1 FROM resource t WHERE t.id = l.target_id AND t.resource_type = l.target_type AND NOT t.deleted
                              AND ${ok})
          ORDER BY w.input, w.line, l.target_type, l.target_id`,
        b.params,
      ),
    );
    try {
      for (;;) {
        const rows = await cursor.read(1000);
        if (rows.length === 0) break;
        await batch(
          rows.map((r) => ({
            input: r.input,
            line: r.line,
            resourceType: r.resource_type,
            id: r.id,
            targetType: r.target_type,
            targetId: r.target_id,
          })),
        );
      }
    } finally {
      await cursor.close().catch(() => undefined);
      await client.query('COMMIT').catch(() => undefined);
    }
  } catch (e) {
    broken = e as Error;
    throw e;
  } finally {
    client.release(broken); // a connection that failed mid-cursor is discarded, not reused
  }
}
