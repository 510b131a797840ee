/**
 * FHIR R4 Subscriptions as a consumer of the change stream (events/pipeline.ts): for each change event, the
 * active-subscription index (active-index.ts) finds the matching subscriptions in one statement; then
 *
 * - websocket channel: `pg_notify(SUBSCRIPTION_WS_CHANNEL, …)` per match (ws-channel.ts), for the process holding the
 *   bound socket to send `ping <id>`;
 * - rest-hook channel: one pg-boss job per (subscription, event) on the queue `arogya-subscription-rest-hook`, with
 *   a deterministic job id, so a retried event does not queue the notification twice. That queue has its own retry
 *   schedule (AROGYA_SUBSCRIPTION_RETRY_LIMIT, AROGYA_SUBSCRIPTION_RETRY_DELAY_SECONDS, doubling, jittered); when
 *   the last retry fails, the Subscription is set to `status=error` with the reason in `Subscription.error`
 *   (written by the server through the write engine) and the job goes to `…-dead`.
 *
 * Each delivery re-reads the Subscription: one no longer active (off, error, deleted) drops its pending
 * notifications. Its payload is read through the repository as the owner (vread of that version): a version the
 * owner may not read is never sent.
 */
import crypto from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type PgBoss from 'pg-boss';
import type { QueryResult } from 'pg';
import type { Pool, PoolClient } from '../../database/pool';
import { isJsonObject, type JsonObject } from '../../fhir/json';
import { OperationOutcomeError } from '../../fhir/outcome';
import { parseHeaders, payloadType } from '../../fhir/subscription';
import { errorForLog } from '../../logging';
import { SYSTEM_CALLER, type Actor, type Caller } from '../../repository/caller';
import type { Repository } from '../../repository/repository';
import type { AccessRestriction } from '../../repository/search/compile/access';
import type { ChangeEvent, ConsumerContext, EventConsumer } from '../event';
import type { AllowList } from './address-guard';
import { GENERATION_SQL, SubscriptionIndex } from './active-index';
import { DeliveryError, RestHookSender, type Notification } from './rest-hook';
import { SUBSCRIPTION_WS_CHANNEL, type WsNotification } from './ws-channel';

export const REST_HOOK_QUEUE = 'arogya-subscription-rest-hook';

/** How often the rest-hook workers but the first poll when idle (seconds; they are woken when there is work). */
const IDLE_HELPER_POLL_SECONDS = 30;
export const REST_HOOK_DEAD_LETTER = 'arogya-subscription-rest-hook-dead';

export interface SubscriptionConsumerOptions {
  pool: Pool;
  repo: Repository;
  log: FastifyBaseLogger;
  allow: AllowList;
  retryLimit: number;
  retryDelaySeconds: number;
  timeoutMs: number;
  concurrency: number;
}

/** A job id for a (subscription, version) pair: the same notification is queued once. */
function jobId(n: Notification): string {
  const h = crypto.createHash('sha256').update(`${n.subscription}\u0000${n.resourceType}/${n.id}/${n.versionId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

class NotActive extends Error {}

export class SubscriptionConsumer implements EventConsumer {
  readonly name = 'subscriptions';
  readonly index: SubscriptionIndex;
  private boss: PgBoss | undefined;
  private readonly sender: RestHookSender;
  private readonly workers: string[] = [];

  constructor(private readonly opts: SubscriptionConsumerOptions) {
    this.index = new SubscriptionIndex(opts.pool, opts.repo, opts.log);
    this.sender = new RestHookSender(opts.allow, opts.timeoutMs);
  }

  async start(ctx: ConsumerContext): Promise<void> {
    this.boss = ctx.boss;
    await ctx.ensureQueue(REST_HOOK_DEAD_LETTER, { retentionDays: 14 });
    await ctx.ensureQueue(REST_HOOK_QUEUE, {
      retryLimit: this.opts.retryLimit,
      retryDelay: this.opts.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: Math.ceil(this.opts.timeoutMs / 1000) * 3 + 30,
      deadLetter: REST_HOOK_DEAD_LETTER,
    });
    await this.index.load();
    const polling = { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: Math.max(0.5, ctx.pollMs / 1000) };
    // A notification in the dead letter has exhausted its retries; when its last attempt died with its process
    // (expired rather than failed), nobody has set the Subscription to error yet: this does (a no-op otherwise).
    await ctx.boss.work<Notification>(REST_HOOK_DEAD_LETTER, { batchSize: 1, pollingIntervalSeconds: 5 }, async ([job]) => {
      const n = job.data;
      await this.markError(
        n.subscription,
        `the notification of ${n.resourceType}/${n.id}/_history/${n.versionId} was not delivered within its retries`,
      );
    });
    for (let i = 0; i < this.opts.concurrency; i++) {
      // Each worker fetches again at once after a job (a backlog is not worked off one polling interval per
      // notification). This process's own notifications wake every worker (notify); only the first polls at the
      // pipeline's pace for the others' and for retries coming due, and wakes the rest when it finds one — each
      // poll is a planned query over pg-boss's partitioned job table, so idle workers polling cost real CPU.
      const first = i === 0;
      const id: string = await ctx.boss.work<Notification>(
        REST_HOOK_QUEUE,
        first ? polling : { ...polling, pollingIntervalSeconds: IDLE_HELPER_POLL_SECONDS },
        ([job]) => {
          if (first) for (const w of this.workers.slice(1)) ctx.boss.notifyWorker(w);
          return this.deliver(job as PgBoss.JobWithMetadata<Notification>).finally(() => ctx.boss.notifyWorker(id));
        },
      );
      this.workers.push(id);
    }
  }

  async stop(): Promise<void> {
    this.sender.close();
  }

  /** Only events of a resource type some active subscription is on (the index, brought up to date first). */
  wanted(events: readonly ChangeEvent[], client: PoolClient, probed?: QueryResult): Promise<readonly ChangeEvent[]> {
    return this.index.wanted(events, client, probed);
  }

  /** The subscriptions' generation, read in the dispatcher's first round trip (see `wanted`). */
  readonly probe = GENERATION_SQL;

  async handle(event: ChangeEvent): Promise<void> {
    const matches = await this.index.match(event);
    if (matches.length === 0) return;
    const ws = matches.filter((s) => s.channel === 'websocket');
    if (ws.length) {
      const payloads = ws.map((s) =>
        JSON.stringify({ subscription: s.id, resourceType: event.resourceType, id: event.id, versionId: event.versionId } satisfies WsNotification),
      );
      await this.opts.pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [SUBSCRIPTION_WS_CHANNEL, payloads]);
    }
    const hooks = matches.filter((s) => s.channel === 'rest-hook');
    if (hooks.length && this.boss) {
      const jobs = hooks.map((s) => {
        const data: Notification = {
          subscription: s.id,
          resourceType: event.resourceType,
          id: event.id,
          versionId: event.versionId,
          interaction: event.interaction,
        };
        return { id: jobId(data), name: REST_HOOK_QUEUE, data };
      });
      await this.boss.insert(jobs);
      for (const w of this.workers) this.boss.notifyWorker(w);
    }
  }

  /** One rest-hook notification (a pg-boss job); throwing schedules the next retry. */
  private async deliver(job: PgBoss.JobWithMetadata<Notification>): Promise<void> {
    const n = job.data;
    const sub = await this.current(n.subscription);
    if (!sub) return; // no longer active: its pending notifications are dropped
    try {
      let body: string | undefined;
      if (sub.target.payload !== undefined) {
        body = await this.readAsOwner(sub.owner, n);
        if (body === undefined) return; // the owner may not read this version (or it is gone): nothing is sent
      }
      await this.sender.send(sub.target, n, body);
    } catch (e) {
      const last = job.retryCount >= job.retryLimit;
      const reason = e instanceof DeliveryError ? e.message : `notification failed: ${(e as Error).message}`;
      this.opts.log.warn(
        { subscription: n.subscription, attempt: job.retryCount + 1, last, reason: e instanceof DeliveryError ? reason : errorForLog(e) },
        'rest-hook notification failed',
      );
      if (last) await this.markError(n.subscription, `${reason} (${job.retryCount + 1} attempts; the last at ${new Date().toISOString()})`);
      throw e;
    }
  }

  /** The subscription as it is now, when still an active rest-hook, with its owner. */
  private async current(
    id: string,
  ): Promise<{ target: { endpoint: string; payload?: string; headers: [string, string][] }; owner: Caller } | undefined> {
    const { rows } = await this.opts.pool.query<{ content: string; actor: string; access: string | null }>(
      `SELECT r.content::text AS content, o.actor::text AS actor, o.access::text AS access
         FROM resource r JOIN subscription_owner o ON o.id = r.id
        WHERE r.id = $1 AND r.resource_type = 'Subscription' AND NOT r.deleted`,
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    const s = JSON.parse(row.content) as JsonObject;
    const channel = isJsonObject(s.channel) ? s.channel : undefined;
    if (s.status !== 'active' || channel?.type !== 'rest-hook' || typeof channel.endpoint !== 'string') return undefined;
    const access = row.access ? (JSON.parse(row.access) as AccessRestriction) : undefined;
    return {
      target: { endpoint: channel.endpoint, payload: payloadType(channel.payload), headers: parseHeaders(channel.header) },
      owner: { actor: JSON.parse(row.actor) as Actor, ...(access ? { access } : {}) },
    };
  }

  /** The version's JSON as its owner may read it; undefined when the owner may not (or it is no longer there). */
  private async readAsOwner(owner: Caller, n: Notification): Promise<string | undefined> {
    try {
      const v = await this.opts.repo.vread(owner, n.resourceType, n.id, String(n.versionId));
      return v.content;
    } catch (e) {
      if (e instanceof OperationOutcomeError && [403, 404, 410].includes(e.status)) return undefined;
      throw e;
    }
  }

  /** Retries exhausted: the server sets the Subscription to error (if it is still active), with the reason. */
  private async markError(id: string, reason: string): Promise<void> {
    try {
      await this.opts.repo.patch(SYSTEM_CALLER, 'Subscription', { id }, (cur) => {
        if (cur.status !== 'active') throw new NotActive();
        return { ...cur, status: 'error', error: reason.slice(0, 1000) };
      });
    } catch (e) {
      if (e instanceof NotActive) return;
      this.opts.log.error({ subscription: id, error: errorForLog(e) }, 'could not set the Subscription to status error');
    }
  }
}
