/**
 * A server that shuts down (app.close(), what SIGTERM does) while an export runs releases the job: it goes back to
 * the queue, and the next server on the same database finishes it, with the same transactionTime.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildApp } from '../../server/app';
import { freePort } from '../../server/database/embedded';
import { createPool } from '../../server/database/pool';
import { adminTokens, fhirClient, startServer } from '../harness';
import { kickOff, waitForJob } from './helpers';

test('an export interrupted by a shutdown is queued again and completed by the next server', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bulk-shutdown-'));
  const first = await startServer({ dataDir });
  try {
    await first.request('PUT', '/Basic/survivor', { body: { resourceType: 'Basic', id: 'survivor', code: { text: 'kept' } } });
    // hold the export inside its run (its first read waits for this lock) while the server shuts down
    const locker = await first.pool.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE resource IN ACCESS EXCLUSIVE MODE');
    const res = await kickOff(first, '/$export?_type=Basic');
    expect(res.status).toBe(202);
    const jobId = res.headers.get('content-location')!.split('/').pop()!;
    for (let i = 0; i < 200 && (await first.request('GET', `/_bulk/jobs/${jobId}`)).headers.get('x-progress') !== 'started'; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const closing = first.close();
    await new Promise((r) => setTimeout(r, 300));
    await locker.query('ROLLBACK');
    locker.release();
    await closing;

    const db = new pg.Client({ connectionString: first.databaseUrl });
    await db.connect();
    try {
      const job = await db.query(`SELECT status, progress, transaction_time IS NOT NULL AS has_time FROM bulk_job WHERE id = $1`, [jobId]);
      expect(job.rows[0]).toMatchObject({ status: 'queued', progress: expect.stringMatching(/shutdown/) });
      const queued = await db.query(`SELECT state FROM pgboss.job WHERE name = 'arogya-bulk-export' AND data->>'jobId' = $1`, [jobId]);
      expect(queued.rows.map((r) => r.state)).toContain('created');
    } finally {
      await db.end();
    }

    // the next server on the same database takes the job over
    const port = await freePort();
    const pool = createPool(first.databaseUrl, 4);
    const config = { ...first.config, port, baseUrl: `http://127.0.0.1:${port}/fhir` };
    const app = await buildApp(config, pool, { logger: false, jobs: { pollingIntervalSeconds: 0.5 } });
    await app.listen({ port, host: '127.0.0.1' });
    try {
      // the second server's own token: a token's audience is the server's base URL, which differs here
      const second = fhirClient(config.baseUrl, first.adminAuth ? adminTokens(`http://127.0.0.1:${port}`, first.adminAuth) : undefined);
      const done = await waitForJob(second, `${config.baseUrl}/_bulk/jobs/${jobId}`);
      expect(done.status).toBe(200);
      expect(done.body.output).toEqual([{ type: 'Basic', url: `${config.baseUrl}/_bulk/jobs/${jobId}/files/Basic.ndjson`, count: 1 }]);
    } finally {
      await app.close();
      await pool.end();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
