/**
 * The event pipeline (DESIGN.md §4): outbox → dispatcher → one pg-boss queue per consumer.
 *
 * - The write engine's commit point appends every written version to `event_outbox` in the statement that writes
 *   it (repository/writes.ts `ins_outbox`): a row exists exactly when its change committed.
 * - Every server process runs a dispatcher. It takes outbox rows with `FOR UPDATE SKIP LOCKED` (processes never
 *   take the same row), inserts one job per consumer into pg-boss *on the same connection and in the same
 *   transaction*, and deletes the rows. A consumer may pass over events it can tell concern it not
 *   (`EventConsumer.wanted`, asked in that transaction): most writes then queue no job at all. So a change is handed on exactly once: a process killed before that
 *   commit leaves the rows for the next dispatch, one killed after it has already queued the jobs.
 * - pg-boss gives each job to one process (SKIP LOCKED too), retries a failed delivery with exponential backoff
 *   (`retryDelay · 2^n`, jittered), and moves it to the consumer's dead-letter queue (`…-dead`) after the last
 *   retry. A job whose process died mid-delivery is retried once it expires (`expireSeconds`). Delivery is
 *   therefore at least once: consumers deduplicate on resourceType/id/versionId.
 *
 * The dispatcher polls (cheap: a primary-key scan of a table that holds only undispatched rows) and is also woken
 * right after this process's own writes, so a change written here starts its journey without waiting for a poll.
 */
import '../database/pg-boss-delay'; // before pg-boss loads (see there)
import PgBoss from 'pg-boss';
import { preparedBossDb } from '../database/pg-boss-db';
import type { FastifyBaseLogger } from 'fastify';
import type { QueryResult } from 'pg';
import type { Pool, PoolClient } from '../database/pool';
import { inTransaction } from '../database/pool';
import { errorForLog } from '../logging';
import type { Actor } from '../repository/caller';
import { EVENTS_APPLICATION_NAME } from '../repository/history';
import { isPoolClient, type AfterWriteHook } from '../repository/write-engine';
import type { ChangeEvent, EventConsumer, Interaction } from './event';

export interface EventPipelineOptions {
  /** The coordinator's pool: the outbox and pg-boss live there (DESIGN.md §3). */
  pool: Pool;
  log: FastifyBaseLogger;
  consumers: readonly EventConsumer[];
  /** How often an idle dispatcher looks for outbox rows written by other processes (ms). */
  pollMs: number;
  /** Retries of a failed delivery before it goes to the dead-letter queue. */
  retryLimit: number;
  /** First retry delay (seconds); each next one doubles (with jitter). */
  retryDelaySeconds: number;
  /** A delivery running longer than this (or whose process died) is failed and retried (seconds). */
  expireSeconds: number;
  /** Outbox rows handed on per dispatch transaction. */
  batchSize?: number;
}

interface OutboxRow {
  id: string;
  resource_type: string;
  resource_id: string;
  version_id: number;
  interaction: Interaction;
  actor: Actor | string;
  request_id: string | null;
  recorded: Date | string;
}

/**
 * A dispatch transaction's first round trip: it begins, names itself as the event pipeline's, takes a batch of
 * outbox rows and runs the consumers' probes (`EventConsumer.probe`), in one simple query (an idle poll is then this
 * and a COMMIT). The probes come after the DELETE, so what they read is at least as new as the rows it took. It
 * moves outbox rows to job queues and never writes a resource version, so history's commit horizon
 * (repository/history.ts) does not wait for it; SET LOCAL ends with the transaction. `dispatchResults` picks the
 * DELETE's and the probes' results out of the round trip's.
 *
 * The DELETE and the probes are prepared statements of the connection (planned once, not at every dispatch):
 * `prepare` — the connection has not prepared them yet — puts their PREPAREs first, in the same round trip.
 *
 * The DELETE is planned with sequential and bitmap scans off. event_outbox is a queue: under write load it holds a
 * few undispatched rows behind thousands of dead ones until autovacuum comes (up to a minute), and a plan made when
 * it was small — the connection's first dispatch, or after an autovacuum found it empty — is kept by the prepared
 * statement: a sequential scan (and a hash join, with `id IN (…)`) that then reads every page of the table at every
 * dispatch, 17–21 ms under load. A plain primary-key scan walks the dead rows' index entries once and marks them
 * dead; later scans step over them. (ANY of an array, not IN: a probe per row taken, never a join.)
 */
export function dispatchStart(batchSize: number, probes: readonly string[] = [], prepare = true): string {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`event dispatch batch size ${batchSize}: a positive integer`);
  const statements = [
    `DELETE FROM event_outbox WHERE id = ANY (ARRAY(SELECT id FROM event_outbox ORDER BY id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED))
    RETURNING id, resource_type, resource_id, version_id, interaction, actor, request_id, recorded`,
    ...probes,
  ];
  const name = (i: number): string => `arogya_dispatch_${i}`;
  return [
    ...(prepare ? statements.map((sql, i) => `PREPARE ${name(i)} AS ${sql}`) : []),
    'BEGIN',
    `SET LOCAL application_name = '${EVENTS_APPLICATION_NAME}'`,
    ...QUEUE_SCAN.map(([p, v]) => `SET LOCAL ${p} = ${v}`),
    `EXECUTE ${name(0)}`,
    ...QUEUE_SCAN.map(([p]) => `SET LOCAL ${p} TO DEFAULT`),
    ...probes.map((_, i) => `EXECUTE ${name(i + 1)}`),
  ].join(';\n');
}

/** The planner settings of the dispatch DELETE (dispatchStart), restored to their defaults after it. */
const QUEUE_SCAN = [
  ['enable_seqscan', 'off'],
  ['enable_bitmapscan', 'off'],
] as const;

/** The DELETE's and the probes' results among those of a dispatchStart round trip (its last statements). */
export function dispatchResults<T>(results: readonly T[], probeCount: number): { deleted: T; probed: T[] } {
  return { deleted: results[results.length - 1 - probeCount - QUEUE_SCAN.length], probed: results.slice(results.length - probeCount) };
}

/**
 * Under load, the least time between the starts of two dispatches that found rows (ms): the wake-ups of many
 * writes then share one dispatch transaction (two round trips and the DELETE) instead of each asking for its own,
 * and a change waits at most this long for its turn. A full batch is followed at once.
 */
export const BUSY_DISPATCH_GAP_MS = 50;

export const queueOf = (consumer: string): string => `arogya-event-${consumer}`;
export const deadLetterOf = (consumer: string): string => `arogya-event-${consumer}-dead`;

export class EventPipeline {
  private readonly boss: PgBoss;
  private readonly workerIds: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private dispatching: Promise<void> | undefined;
  private again = false;
  /** Quick re-checks left after a wake (its write may not have committed by the first). */
  private wakeChecks = 0;
  private started = false;
  private readonly batchSize: number;
  /** Set at start(), when the consumers are known: for a connection that has prepared the DELETE, and for one that has not. */
  private dispatchStart = { prepared: '', unprepared: '' };
  private probeCount = 0;
  /** The pool's connections that have prepared the DELETE and the probes. */
  private readonly prepared = new WeakSet<PoolClient>();
  /** When the pending timer fires (epoch ms), and the earliest the next dispatch may start. */
  private dueAt = 0;
  private notBefore = 0;

  constructor(private readonly opts: EventPipelineOptions) {
    this.batchSize = opts.batchSize ?? 500;
    dispatchStart(this.batchSize); // checks the batch size now
    for (const c of opts.consumers) {
      if (!/^[A-Za-z0-9-]{1,40}$/.test(c.name)) throw new Error(`event consumer name "${c.name}": letters, digits and - only`);
    }
    const connectionString = opts.pool.options.connectionString;
    if (!connectionString) throw new Error('the event pipeline needs a pool created from a connection string');
    this.boss = new PgBoss({
      db: preparedBossDb({ connectionString, max: 2, application_name: EVENTS_APPLICATION_NAME }),
      schedule: false,
      supervise: true,
      // Expired deliveries (a process died holding them) are found by pg-boss's maintenance: run it often enough.
      maintenanceIntervalSeconds: Math.max(1, Math.min(120, Math.floor(opts.expireSeconds / 2))),
    });
    this.boss.on('error', (e: Error) => opts.log.error({ error: errorForLog(e) }, 'event queue error'));
  }

  /** The write engine hook that wakes this process's dispatcher after its own writes (they commit right after). */
  readonly wake: AfterWriteHook = Object.assign(
    async (client: PoolClient | Pool): Promise<void> => {
      if (!this.started) return;
      // Inside a transaction the hook runs before the write commits: a dispatch 5 ms later may come too early, so
      // two more follow. On the pool (a group commit's lone statement) it runs once the write has committed.
      if (isPoolClient(client)) this.wakeChecks = 2;
      this.schedule(5);
    },
    // (it writes nothing: it only schedules a dispatch)
    { writesFor: () => false },
  );

  async start(): Promise<void> {
    try {
      await this.boss.start();
      for (const c of this.opts.consumers) {
        const queue = {
          retryLimit: this.opts.retryLimit,
          retryDelay: this.opts.retryDelaySeconds,
          retryBackoff: true,
          expireInSeconds: this.opts.expireSeconds,
        };
        await ensureQueue(this.boss, deadLetterOf(c.name), { retentionDays: 14 });
        await ensureQueue(this.boss, queueOf(c.name), { ...queue, deadLetter: deadLetterOf(c.name) });
        const polling = { batchSize: 1, pollingIntervalSeconds: Math.max(0.5, this.opts.pollMs / 1000) };
        // After each job the worker is told to fetch again at once (pg-boss would otherwise wait out its polling
        // interval between two jobs of a backlog); an empty fetch then waits as usual.
        const id: string = await this.boss.work<ChangeEvent>(queueOf(c.name), polling, ([job]) =>
          this.deliver(c, job).finally(() => this.boss.notifyWorker(id)),
        );
        this.workerIds.push(id);
      }
      const ctx = {
        boss: this.boss,
        pollMs: this.opts.pollMs,
        ensureQueue: (name: string, o: Omit<PgBoss.Queue, 'name'>) => ensureQueue(this.boss, name, o),
      };
      for (const c of this.opts.consumers) await c.start?.(ctx);
    } catch (e) {
      await this.boss.stop({ graceful: false, wait: true }).catch(() => undefined);
      throw e;
    }
    const probes = this.opts.consumers.flatMap((c) => (c.probe ? [c.probe] : []));
    this.probeCount = probes.length;
    this.dispatchStart = {
      prepared: dispatchStart(this.batchSize, probes, false),
      unprepared: dispatchStart(this.batchSize, probes, true),
    };
    this.started = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearTimeout(this.timer);
    await this.dispatching;
    await this.boss.stop({ graceful: true, timeout: 10_000, wait: true });
    for (const c of this.opts.consumers) await c.stop?.();
  }

  /**
   * Dispatches in `ms`, or when a dispatch is already due sooner, keeps that one (a stream of wake-ups does not
   * postpone it); never before `notBefore`. While a dispatch runs, another follows it.
   */
  private schedule(ms: number): void {
    if (!this.started) return;
    if (this.dispatching !== undefined) {
      this.again = true;
      return;
    }
    const now = Date.now();
    const at = Math.max(now + ms, this.notBefore);
    if (this.timer !== undefined && this.dueAt <= at) return;
    clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => this.runDispatch(), at - now);
  }

  private runDispatch(): void {
    this.timer = undefined;
    this.again = false;
    const began = Date.now();
    this.dispatching = this.dispatchAll()
      .then((found) => {
        // rows found: more are likely on their way; let them gather for a while rather than fetch each on its own
        if (found) this.notBefore = began + BUSY_DISPATCH_GAP_MS;
      })
      .catch((e) => this.opts.log.warn({ error: errorForLog(e) }, 'event dispatch failed; retried at the next poll'))
      .finally(() => {
        this.dispatching = undefined;
        const recheck = this.wakeChecks > 0;
        if (recheck) this.wakeChecks--;
        this.schedule(this.again ? 0 : recheck ? 25 : this.opts.pollMs);
      });
  }

  /** Hands on outbox rows until none is left (or another process holds the rest). */
  private async dispatchAll(): Promise<boolean> {
    let queued = 0;
    let found = false;
    for (;;) {
      const { rows, jobs } = await this.dispatchOnce();
      queued += jobs;
      found ||= rows > 0;
      if (rows < this.batchSize || !this.started) break;
    }
    if (queued > 0) for (const w of this.workerIds) this.boss.notifyWorker(w);
    return found;
  }

  /** One dispatch transaction: takes a batch of outbox rows and hands it on (dispatchBatch); rolled back on any error. */
  private async dispatchOnce(): Promise<{ rows: number; jobs: number }> {
    let connection: PoolClient | undefined;
    try {
      return await inTransaction(
        this.opts.pool,
        // the start is several statements (PREPARE, BEGIN, SET): the DELETE's result, then the consumers' probes
        (client, begun) => {
          this.prepared.add(client);
          const { deleted, probed } = dispatchResults(begun as QueryResult[], this.probeCount);
          return this.dispatchBatch(client, (deleted as QueryResult<OutboxRow>).rows, probed);
        },
        (client) => {
          connection = client;
          return this.prepared.has(client) ? this.dispatchStart.prepared : this.dispatchStart.unprepared;
        },
      );
    } catch (e) {
      // prepared by an attempt whose transaction failed later: known from now on
      if (connection && (e as { code?: string }).code === '42P05') this.prepared.add(connection);
      throw e;
    }
  }

  /** Hands on one batch of outbox rows, taken in `client`'s transaction: how many rows and how many jobs it queued. */
  private async dispatchBatch(client: PoolClient, rows: OutboxRow[], probed: QueryResult[]): Promise<{ rows: number; jobs: number }> {
    if (rows.length === 0 || this.opts.consumers.length === 0) return { rows: rows.length, jobs: 0 };
    const events = rows.sort((a, b) => Number(a.id) - Number(b.id)).map(eventOf);
    const jobs: { name: string; data: ChangeEvent }[] = [];
    let probe = 0;
    for (const c of this.opts.consumers) {
      const result = c.probe ? probed[probe++] : undefined;
      const wanted = c.wanted ? await c.wanted(events, client, result) : events;
      for (const data of wanted) jobs.push({ name: queueOf(c.name), data });
    }
    if (jobs.length === 0) return { rows: rows.length, jobs: 0 };
    // The same connection, so the jobs commit with the deletes (pg-boss's `db` option runs its insert on it).
    await this.boss.insert(jobs, { db: { executeSql: (text, values) => client.query(text, values) } });
    return { rows: rows.length, jobs: jobs.length };
  }

  private async deliver(consumer: EventConsumer, job: PgBoss.Job<ChangeEvent>): Promise<void> {
    try {
      await consumer.handle(job.data);
    } catch (e) {
      this.opts.log.warn({ consumer: consumer.name, job: job.id, error: errorForLog(e) }, 'event delivery failed; retried with backoff');
      throw e;
    }
  }
}

function eventOf(r: OutboxRow): ChangeEvent {
  return {
    seq: String(r.id),
    resourceType: r.resource_type,
    id: r.resource_id,
    versionId: r.version_id,
    interaction: r.interaction,
    actor: typeof r.actor === 'string' ? (JSON.parse(r.actor) as Actor) : r.actor,
    ...(r.request_id ? { requestId: r.request_id } : {}),
    recorded: new Date(r.recorded).toISOString(),
  };
}

/** Creates a queue or brings its settings up to date (processes start together: a deadlock is tried again). */
async function ensureQueue(boss: PgBoss, name: string, options: Omit<PgBoss.Queue, 'name'>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await boss.createQueue(name, { name, ...options });
      await boss.updateQueue(name, { name, ...options });
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== '40P01' || i >= 5) throw e;
      await new Promise((r) => setTimeout(r, 20 * i + Math.random() * 50));
    }
  }
}
