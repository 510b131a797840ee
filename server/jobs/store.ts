/**
 * Bulk job state (table bulk_job): what the status URL reports. The queue (pg-boss) only decides *when* a job
 * runs; whether it is queued, running, done, failed or cancelled — and its manifest — lives here, so a status
 * request is one indexed read whatever the queue's retention.
 */
import crypto from 'node:crypto';
import type { Pool } from '../database/pool';
import { INSTANT_SQL } from '../repository/writes';
import type { OperationOutcome } from '../fhir/outcome';

export type JobKind = 'export' | 'import';
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface BulkJob<P = unknown> {
  id: string;
  kind: JobKind;
  status: JobStatus;
  /** Which run of the job this is (1 for the first); only the newest run may update it. */
  attempt: number;
  /** The kick-off request URL. */
  request: string;
  params: P;
  transactionTime?: string;
  progress?: string;
  manifest?: unknown;
  outcome?: OperationOutcome;
  expiresAt?: string;
}

interface Row {
  id: string;
  kind: JobKind;
  status: JobStatus;
  attempt: number;
  request: string;
  params: string;
  transaction_time: string | null;
  progress: string | null;
  manifest: string | null;
  outcome: string | null;
  expires_at: string | null;
}

const COLUMNS = `id, kind, status, attempt, request, params, ${INSTANT_SQL('transaction_time')} AS transaction_time, progress, manifest, outcome,
  ${INSTANT_SQL('expires_at')} AS expires_at`;

function fromRow<P>(r: Row): BulkJob<P> {
  // Job params, manifests and outcomes are our own plain JSON (no resource bodies), so JSON.parse is right here.
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    attempt: r.attempt,
    request: r.request,
    params: JSON.parse(r.params) as P,
    transactionTime: r.transaction_time ?? undefined,
    progress: r.progress ?? undefined,
    manifest: r.manifest ? (JSON.parse(r.manifest) as unknown) : undefined,
    outcome: r.outcome ? (JSON.parse(r.outcome) as OperationOutcome) : undefined,
    expiresAt: r.expires_at ?? undefined,
  };
}

export class BulkJobStore {
  constructor(
    private readonly pool: Pool,
    private readonly retentionHours: number,
  ) {}

  async create(kind: JobKind, request: string, params: unknown): Promise<string> {
    const id = crypto.randomUUID();
    await this.pool.query(`INSERT INTO bulk_job (id, kind, status, request, params) VALUES ($1, $2, 'queued', $3, $4::jsonb)`, [
      id,
      kind,
      request,
      JSON.stringify(params),
    ]);
    return id;
  }

  async get<P = unknown>(id: string): Promise<BulkJob<P> | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM bulk_job WHERE id = $1`, [id]);
    return rows[0] ? fromRow<P>(rows[0]) : undefined;
  }

  /** queued (or running again after an interruption) → running; undefined when the job is gone or finished. */
  async claim<P = unknown>(id: string): Promise<BulkJob<P> | undefined> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE bulk_job SET status = 'running', attempt = attempt + 1, started_at = now(), progress = 'started'
        WHERE id = $1 AND status IN ('queued', 'running') RETURNING ${COLUMNS}`,
      [id],
    );
    return rows[0] ? fromRow<P>(rows[0]) : undefined;
  }

  async setTransactionTime(id: string, instant: string): Promise<void> {
    await this.pool.query(`UPDATE bulk_job SET transaction_time = $2::timestamptz WHERE id = $1`, [id, instant]);
  }

  /** Records progress of a run; false when that run may not go on (the job was cancelled, or a newer run took it). */
  async progress(job: BulkJob, text: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`UPDATE bulk_job SET progress = $3 WHERE id = $1 AND attempt = $2 AND status = 'running'`, [
      job.id,
      job.attempt,
      text,
    ]);
    return rowCount === 1;
  }

  async complete(job: BulkJob, manifest: unknown): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE bulk_job SET status = 'completed', manifest = $3::jsonb, progress = 'completed', finished_at = now(),
              expires_at = now() + make_interval(hours => $4)
        WHERE id = $1 AND attempt = $2 AND status = 'running'`,
      [job.id, job.attempt, JSON.stringify(manifest), this.retentionHours],
    );
    return rowCount === 1;
  }

  async fail(job: BulkJob, outcome: OperationOutcome): Promise<void> {
    await this.pool.query(
      `UPDATE bulk_job SET status = 'failed', outcome = $3::jsonb, progress = 'failed', finished_at = now(),
              expires_at = now() + make_interval(hours => $4)
        WHERE id = $1 AND attempt = $2 AND status = 'running'`,
      [job.id, job.attempt, JSON.stringify(outcome), this.retentionHours],
    );
  }

  /** Back to the queue (shutdown while running): the next process to take it starts it over. */
  async release(job: BulkJob): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE bulk_job SET status = 'queued', progress = 'interrupted by a shutdown; queued again' WHERE id = $1 AND attempt = $2 AND status = 'running'`,
      [job.id, job.attempt],
    );
    return rowCount === 1;
  }

  /** DELETE on the status URL: the job is marked cancelled (its files are removed by the caller and the runner). */
  async cancel(id: string): Promise<JobStatus | undefined> {
    const { rows } = await this.pool.query<{ status: JobStatus }>(
      `UPDATE bulk_job n SET status = 'cancelled', finished_at = now(), expires_at = now() + make_interval(hours => $2)
         FROM bulk_job o WHERE n.id = $1 AND o.id = n.id AND n.status <> 'cancelled'
       RETURNING o.status`,
      [id, this.retentionHours],
    );
    return rows[0]?.status;
  }

  /** Deletes jobs past their expiry; returns their ids (whose files the caller removes). */
  async deleteExpired(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(`DELETE FROM bulk_job WHERE expires_at < now() RETURNING id`);
    return rows.map((r) => r.id);
  }
}
