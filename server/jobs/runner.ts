/**
 * The background job runner: bulk $export/$import jobs on pg-boss, a PostgreSQL job queue (DESIGN.md §4) that
 * keeps its own schema (`pgboss`, created and migrated by pg-boss on start) and hands each job to exactly one
 * worker with SELECT … FOR UPDATE SKIP LOCKED — so every server process (each node:cluster worker) runs a runner
 * and they share the work through the database. A runner takes one export and one import at a time.
 *
 * Shutdown (SIGTERM → app.close()): the running job is aborted at its next batch, its state goes back to
 * 'queued' and it is queued again, so whichever process runs next takes it over from the beginning. A job whose
 * process died without a shutdown is retried once pg-boss expires it (after JOB_EXPIRY_SECONDS); a job that
 * fails with an error is recorded as failed (the status URL reports it) and not retried.
 */
import fs from 'node:fs';
import path from 'node:path';
import '../database/pg-boss-delay'; // before pg-boss loads (see there)
import PgBoss from 'pg-boss';
import { preparedBossDb } from '../database/pg-boss-db';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config';
import type { Pool } from '../database/pool';
import { databaseFailure } from '../database/errors';
import { errorForLog } from '../logging';
import { OperationOutcomeError, issue, outcome } from '../fhir/outcome';
import type { Repository } from '../repository/repository';
import type { JobContext } from './context';
import { JobStopped, runExport, type ExportParams } from './export';
import { jobDir, removeDir, uploadsDir } from './files';
import { runImport, type ImportParams } from './import';
import { BulkJobStore, type BulkJob, type JobKind } from './store';

const QUEUES: Record<JobKind, string> = { export: 'arogya-bulk-export', import: 'arogya-bulk-import' };
const CLEANUP_QUEUE = 'arogya-bulk-cleanup';
/** pg-boss has no heartbeat: a job running longer than this is presumed dead and retried. */
const JOB_EXPIRY_SECONDS = 4 * 3600;
const SEND_OPTIONS = { retryLimit: 3, retryDelay: 5, expireInSeconds: JOB_EXPIRY_SECONDS };

class Shutdown extends Error {}

export interface JobRunnerOptions {
  config: Config;
  /**
   * For the job queue's own state only — pg-boss (its connection string) and the bulk_job table (store.ts); the
   * jobs themselves read and write resources through `repo` and never see it.
   */
  queuePool: Pool;
  repo: Repository;
  log: FastifyBaseLogger;
  /** How often an idle runner looks for queued jobs (seconds, ≥ 0.5); jobs queued in this process start at once. */
  pollingIntervalSeconds?: number;
}

export class JobRunner {
  readonly store: BulkJobStore;
  private readonly boss: PgBoss;
  private readonly ctx: JobContext;
  private readonly running = new Map<string, AbortController>();
  private readonly workerIds: Partial<Record<JobKind, string>> = {};
  private started = false;

  constructor(private readonly opts: JobRunnerOptions) {
    this.store = new BulkJobStore(opts.queuePool, opts.config.bulkRetentionHours);
    this.ctx = { config: opts.config, repo: opts.repo, store: this.store };
    const connectionString = opts.queuePool.options.connectionString;
    if (!connectionString) throw new Error('the job runner needs a pool created from a connection string');
    this.boss = new PgBoss({
      db: preparedBossDb({ connectionString, max: 2, application_name: 'arogya-jobs' }),
      schedule: true,
      supervise: true,
    });
    this.boss.on('error', (e: Error) => opts.log.error({ error: errorForLog(e) }, 'job queue error'));
  }

  async start(): Promise<void> {
    try {
      await this.startQueues();
    } catch (e) {
      // A half-started pg-boss keeps its timers and connections (and, in a test, fires them into a torn-down
      // module registry): stop it before reporting the failure.
      await this.boss.stop({ graceful: false, wait: true }).catch(() => undefined);
      throw e;
    }
  }

  private async startQueues(): Promise<void> {
    await this.boss.start();
    for (const kind of Object.keys(QUEUES) as JobKind[]) {
      await retryOnDeadlock(() => this.boss.createQueue(QUEUES[kind], { name: QUEUES[kind], ...SEND_OPTIONS }));
      const work = { batchSize: 1, pollingIntervalSeconds: this.opts.pollingIntervalSeconds ?? 2 };
      this.workerIds[kind] = await this.boss.work<{ jobId: string }>(QUEUES[kind], work, ([job]) => this.run(kind, job.data.jobId));
    }
    await retryOnDeadlock(() => this.boss.createQueue(CLEANUP_QUEUE, { name: CLEANUP_QUEUE, retryLimit: 0, expireInSeconds: 600 }));
    await retryOnDeadlock(() => this.boss.schedule(CLEANUP_QUEUE, '*/15 * * * *'));
    await this.boss.work(CLEANUP_QUEUE, { batchSize: 1 }, () => this.cleanup());
    this.started = true;
  }

  /** Queues a job created in the store; this process's runner is woken so it starts without a polling delay. */
  async enqueue(kind: JobKind, jobId: string): Promise<void> {
    await this.boss.send(QUEUES[kind], { jobId }, SEND_OPTIONS);
    const worker = this.workerIds[kind];
    if (worker) this.boss.notifyWorker(worker);
  }

  /** DELETE on a status URL: marks the job cancelled (a running job stops at its next batch) and removes its files. */
  async cancel(jobId: string): Promise<boolean> {
    const previous = await this.store.cancel(jobId);
    if (previous === undefined) return false;
    await removeDir(jobDir(this.opts.config.dataDir, jobId));
    return true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const ctl of this.running.values()) ctl.abort(new Shutdown('the server is shutting down'));
    // pg-boss waits for the (aborting) handlers to return before it closes its connections.
    await this.boss.stop({ graceful: true, timeout: 20_000, wait: true });
  }

  private async run(kind: JobKind, jobId: string): Promise<void> {
    const job = await this.store.claim(jobId);
    if (!job) return; // cancelled or already finished
    const ctl = new AbortController();
    this.running.set(jobId, ctl);
    const log = this.opts.log.child({ job: jobId, kind, attempt: job.attempt });
    log.info('bulk job started');
    try {
      const manifest =
        kind === 'export'
          ? await runExport(this.ctx, job as BulkJob<ExportParams>, ctl.signal)
          : await runImport(this.ctx, job as BulkJob<ImportParams>, ctl.signal);
      if (await this.store.complete(job, manifest)) log.info('bulk job completed');
      else await this.stopped(job, log);
    } catch (e) {
      if (ctl.signal.reason instanceof Shutdown) {
        // Queued again as a new queue job, sent while the database is still open (pg-boss waits for this handler
        // before it closes): whichever process runs next takes it over.
        if (await this.store.release(job)) await this.boss.send(QUEUES[kind], { jobId }, SEND_OPTIONS);
        log.info('bulk job interrupted by shutdown; queued again');
        return;
      }
      // Stopped by a cancel or a newer run (perhaps failing on the files a cancel removed): not a failure.
      if (e instanceof JobStopped || !(await this.isCurrentRun(job))) return this.stopped(job, log);
      const issues =
        e instanceof OperationOutcomeError && e.status < 500
          ? e.issues
          : [
              issue(
                'fatal',
                'exception',
                `The ${kind} failed (${databaseFailure(e) ? 'the database was unavailable or too slow' : 'an internal error, logged with the job id'}); start it again`,
              ),
            ];
      log.error({ error: errorForLog(e) }, 'bulk job failed');
      await this.store.fail(job, outcome(issues));
    } finally {
      this.running.delete(jobId);
      // Look for the next queued job at once rather than after a polling interval.
      const worker = this.workerIds[kind];
      if (worker && this.started) this.boss.notifyWorker(worker);
    }
  }

  private async isCurrentRun(job: BulkJob): Promise<boolean> {
    const now = await this.store.get(job.id).catch(() => undefined);
    return now?.status === 'running' && now.attempt === job.attempt;
  }

  /** A run that may not go on: when the job was cancelled its files go; when a newer run took over, they are its. */
  private async stopped(job: BulkJob, log: FastifyBaseLogger): Promise<void> {
    const now = await this.store.get(job.id);
    if (!now || now.status === 'cancelled') {
      await removeDir(jobDir(this.opts.config.dataDir, job.id));
      log.info('bulk job cancelled');
    } else {
      log.warn('bulk job run superseded by a newer run');
    }
  }

  /** Deletes expired jobs' state and files, and uploads older than the retention period. */
  private async cleanup(): Promise<void> {
    const dataDir = this.opts.config.dataDir;
    for (const id of await this.store.deleteExpired()) await removeDir(jobDir(dataDir, id));
    const cutoff = Date.now() - this.opts.config.bulkRetentionHours * 3600_000;
    const dir = uploadsDir(dataDir);
    for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
      const file = path.join(dir, name);
      const stat = await fs.promises.stat(file).catch(() => undefined);
      if (stat && stat.mtimeMs < cutoff) await fs.promises.rm(file, { force: true });
    }
  }
}

/**
 * Worker processes start together, and pg-boss's queue creation (idempotent DDL and inserts) can deadlock
 * between them; PostgreSQL aborts one side, which simply tries again.
 */
async function retryOnDeadlock<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { code?: string }).code !== '40P01' || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 20 * i + Math.random() * 50));
    }
  }
}
