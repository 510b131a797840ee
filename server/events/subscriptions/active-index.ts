/**
 * Matching without a query per subscription per write: every process keeps the active Subscriptions in memory,
 * by resource type, with their criteria parsed once (by the search grammar, value sets expanded) and their owner's
 * access (owner.ts). For a change event, ONE SQL statement decides which of the candidate subscriptions of its
 * type match the new version: a UNION ALL of each distinct (criteria, owner access) compiled by the search
 * planner's own `compileCriteria` — the same semantics as a search by the owner — narrowed to the event's id and
 * version. The statement also reads `subscription_state.generation`; when it differs from the generation the index
 * was loaded at (a Subscription was written since), the index is reloaded and the match run again. So a
 * subscription is matched from the first change committed after it, in every process, without polling.
 *
 * A version that is no longer current when its event is matched is not matched (the index tables hold the current
 * version only); the newer version's own event is matched instead. Deletions never notify (R4).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from '../../database/pool';
import { isJsonObject, type JsonObject } from '../../fhir/json';
import { criteriaKey, type Criterion } from '../../fhir/search/criteria';
import { parseHeaders, payloadType, type SubscriptionChannel } from '../../fhir/subscription';
import { errorForLog } from '../../logging';
import type { Actor, Caller } from '../../repository/caller';
import type { Repository } from '../../repository/repository';
import type { AccessRestriction } from '../../repository/search/compile/access';
import { compileCriteria } from '../../repository/search/compile/planner';
import type { ChangeEvent } from '../event';

export interface ActiveSubscription {
  id: string;
  resourceType: string;
  criteria: Criterion[];
  channel: SubscriptionChannel;
  endpoint?: string;
  /** The payload MIME type, undefined for none. */
  payload?: string;
  headers: [string, string][];
  /** Subscription.end (ms since the epoch): no match from then on. */
  end?: number;
  /** Matching and reading act as the owner. */
  owner: Caller;
  /** Subscriptions with equal keys match the same versions: one branch of the statement for all of them. */
  key: string;
}

interface Row {
  generation: string;
  id: string | null;
  content: string | null;
  actor: string | null;
  access: string | null;
}

const LOAD_SQL = `SELECT s.generation::text AS generation, r.id, r.content::text AS content, o.actor::text AS actor, o.access::text AS access
  FROM subscription_state s
  LEFT JOIN (resource r JOIN subscription_owner o ON o.id = r.id)
    ON r.resource_type = 'Subscription' AND NOT r.deleted AND r.content->>'status' = 'active'`;

export class SubscriptionIndex {
  private generation: string | undefined;
  private byType = new Map<string, ActiveSubscription[]>();
  private loading: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly repo: Repository,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Loads (or reloads) the active subscriptions; concurrent callers share one load. */
  load(): Promise<void> {
    this.loading ??= this.loadNow().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  /** How many active subscriptions the index holds (all types). */
  get size(): number {
    let n = 0;
    for (const list of this.byType.values()) n += list.length;
    return n;
  }

  private async loadNow(): Promise<void> {
    const { rows } = await this.pool.query<Row>(LOAD_SQL);
    const byType = new Map<string, ActiveSubscription[]>();
    for (const row of rows) {
      if (!row.id || !row.content || !row.actor) continue;
      try {
        const sub = await this.entry(row.id, JSON.parse(row.content) as JsonObject, row.actor, row.access);
        if (!sub) continue;
        const list = byType.get(sub.resourceType) ?? [];
        list.push(sub);
        byType.set(sub.resourceType, list);
      } catch (e) {
        // e.g. a custom search parameter its criteria used was removed: the subscription cannot be matched
        this.log.warn({ subscription: row.id, error: errorForLog(e) }, 'an active Subscription cannot be matched and is skipped');
      }
    }
    this.byType = byType;
    this.generation = rows[0]?.generation;
  }

  private async entry(id: string, s: JsonObject, actorJson: string, accessJson: string | null): Promise<ActiveSubscription | undefined> {
    const channel = isJsonObject(s.channel) ? s.channel : undefined;
    if (typeof s.criteria !== 'string' || !channel) return undefined;
    const q = s.criteria.indexOf('?');
    const resourceType = q < 0 ? s.criteria : s.criteria.slice(0, q);
    const criteria = await this.repo.criteria(resourceType, new URLSearchParams(q < 0 ? '' : s.criteria.slice(q + 1)), 'Subscription.criteria');
    const actor = JSON.parse(actorJson) as Actor;
    const access = accessJson ? (JSON.parse(accessJson) as AccessRestriction) : undefined;
    const end = typeof s.end === 'string' ? Date.parse(s.end) : undefined;
    return {
      id,
      resourceType,
      criteria,
      channel: channel.type as SubscriptionChannel,
      endpoint: typeof channel.endpoint === 'string' ? channel.endpoint : undefined,
      payload: payloadType(channel.payload),
      headers: channel.type === 'rest-hook' ? parseHeaders(channel.header) : [],
      end: Number.isNaN(end) ? undefined : end,
      owner: { actor, ...(access ? { access } : {}) },
      key: `${criteriaKey(resourceType, criteria)}\u0000${accessJson ?? ''}`,
    };
  }

  /** The active subscriptions the event's version matches (none for a deletion). */
  async match(event: ChangeEvent): Promise<ActiveSubscription[]> {
    if (event.interaction === 'delete') return [];
    if (this.generation === undefined) await this.load();
    for (let attempt = 1; ; attempt++) {
      const generation = this.generation;
      const now = Date.now();
      const groups = new Map<string, ActiveSubscription[]>();
      for (const s of this.byType.get(event.resourceType) ?? []) {
        if (s.end !== undefined && s.end <= now) continue;
        groups.set(s.key, [...(groups.get(s.key) ?? []), s]);
      }
      const branches: ActiveSubscription[][] = [];
      const params: unknown[] = [event.id, event.versionId];
      const parts: string[] = [];
      for (const subs of groups.values()) {
        const mark = params.length;
        try {
          const where = compileCriteria(event.resourceType, subs[0].criteria, params, subs[0].owner.access);
          parts.push(`SELECT ${branches.length}::int AS q FROM resource r WHERE ${where.sql} AND r.id = $1 AND r.version_id = $2`);
          branches.push(subs);
        } catch (e) {
          params.length = mark;
          this.log.warn({ subscription: subs[0].id, error: errorForLog(e) }, 'a Subscription’s criteria do not compile; skipped');
        }
      }
      const sql = parts.length
        ? `SELECT s.generation::text AS g, m.q FROM subscription_state s LEFT JOIN (${parts.join('\nUNION ALL\n')}) m ON true`
        : 'SELECT generation::text AS g, NULL::int AS q FROM subscription_state';
      const { rows } = await this.pool.query<{ g: string; q: number | null }>(sql, parts.length ? params : []);
      if (rows[0]?.g !== generation && attempt < 3) {
        await this.load();
        continue;
      }
      return rows.flatMap((r) => (r.q === null ? [] : branches[r.q]));
    }
  }
}
