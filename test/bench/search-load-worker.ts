/**
 * A loader thread of the search benchmark (search-load.ts): takes chunks from a shared counter and writes each —
 * CHUNK_GROUPS patient groups, or (chunk -1) the shared Organizations and Practitioners — through
 * Repository.planVersion() + executeWrites() in one transaction together with its row in bench_population_chunk.
 * The next chunk is planned (extraction is CPU work) while the database writes the current one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createPool, inTransaction } from '../../server/database/pool';
import type { JsonObject } from '../../server/fhir/json';
import { Repository } from '../../server/repository/repository';
import type { VersionWrite } from '../../server/repository/writes';
import { CHUNK_GROUPS } from './search-load';
import { patientGroup, sharedResources } from './search-population';

const { url, chunks, patients, next } = workerData as { url: string; chunks: number[]; patients: number; next: SharedArrayBuffer };
const counter = new Int32Array(next);
const pool = createPool(url, 2, 'arogya-bench-loader');
const repo = new Repository(pool, { referentialIntegrity: false, baseUrl: 'http://localhost/fhir', timeZone: 'UTC' }); // the server's default zone

function plan(chunk: number): VersionWrite[] {
  const resources: JsonObject[] = [];
  if (chunk < 0) resources.push(...(sharedResources() as JsonObject[]));
  else
    for (let g = chunk * CHUNK_GROUPS; g < Math.min(patients, (chunk + 1) * CHUNK_GROUPS); g++) resources.push(...(patientGroup(g) as JsonObject[]));
  return resources.map((r) =>
    repo.planVersion({ resourceType: r.resourceType as string, id: r.id as string, versionId: 1, method: 'PUT', insert: true }, r),
  );
}

async function write(chunk: number, writes: VersionWrite[]): Promise<void> {
  await inTransaction(pool, async (client) => {
    await repo.executeWrites(client, writes, { returnContent: false });
    await client.query('INSERT INTO bench_population_chunk (chunk) VALUES ($1)', [chunk]);
  });
  parentPort!.postMessage({ written: writes.length });
}

async function main(): Promise<void> {
  let pending: Promise<void> | undefined;
  for (;;) {
    const i = Atomics.add(counter, 0, 1);
    if (i >= chunks.length) break;
    const writes = plan(chunks[i]);
    if (pending !== undefined) await pending;
    pending = write(chunks[i], writes);
    pending.catch(() => undefined); // awaited above or below; never unhandled while the next chunk is planned
  }
  if (pending !== undefined) await pending;
  await pool.end();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
