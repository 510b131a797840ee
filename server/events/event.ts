/**
 * A change event: one committed create, update or delete of one resource version, as the outbox records it and
 * consumers receive it. `resourceType/id/versionId` identifies it: a consumer that sees the same triple twice (the
 * pipeline delivers at least once) has seen the same change.
 */
import type PgBoss from 'pg-boss';
import type { QueryResult } from 'pg';
import type { PoolClient } from '../database/pool';
import type { Actor } from '../repository/caller';

export type Interaction = 'create' | 'update' | 'delete';

export interface ChangeEvent {
  /** The outbox row's id: increasing in commit-ish order within one process's writes, unique across the server. */
  seq: string;
  resourceType: string;
  id: string;
  versionId: number;
  interaction: Interaction;
  /** Who wrote it (no patient data: a kind, a client id, a user's FHIR reference). */
  actor: Actor;
  requestId?: string;
  /** When the writing transaction recorded it (ISO 8601). */
  recorded: string;
}

/**
 * A consumer of the change stream (subscriptions, workflows). `handle` is called at least once per event, in no
 * guaranteed order, from whichever server process takes the job; throwing schedules a retry with backoff, and an
 * event that still fails after the last retry goes to the consumer's dead-letter queue.
 */
export interface EventConsumer {
  /** Letters, digits, `-`: names the consumer's job queues (`arogya-event-{name}` and `…-dead`). */
  readonly name: string;
  handle(event: ChangeEvent): Promise<void>;
  /**
   * Of a dispatch batch's events, those this consumer needs a job for; omitted, every one. Asked inside the dispatch
   * transaction, on its connection (so what it reads is as new as the events): a consumer that can tell from its own
   * state that an event concerns it not at all (FHIR Subscriptions: no active subscription of that resource type)
   * spares the job queue a job per write.
   */
  wanted?(events: readonly ChangeEvent[], client: PoolClient, probed?: QueryResult): Promise<readonly ChangeEvent[]>;
  /**
   * A read-only SELECT (no parameters) whose result `wanted` needs: the dispatcher runs it in its first round trip,
   * right after it has taken the batch (so what it reads is as new as the events), and passes the result as
   * `probed` — one round trip fewer per dispatch than `wanted` querying `client` itself.
   */
  readonly probe?: string;
  /** Called once the pipeline's job queue runs: a consumer's own queues and workers (subscriptions' deliveries). */
  start?(ctx: ConsumerContext): Promise<void>;
  /** Called when the pipeline has stopped (its workers finished). */
  stop?(): Promise<void>;
}

/** What a consumer's `start` is given: the pipeline's pg-boss and how to create a queue of its own. */
export interface ConsumerContext {
  boss: PgBoss;
  /** How often idle workers poll (ms), as the pipeline's. */
  pollMs: number;
  /** Creates a queue or brings its settings up to date. */
  ensureQueue(name: string, options: Omit<PgBoss.Queue, 'name'>): Promise<void>;
}
