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
 * Before that statement, a prefilter keeps it small: the event resource's token and reference index rows of the
 * parameters the candidates use are read once (with the generation, in one statement), and a subscription whose
 * token, reference or `_id` criteria no row satisfies is left out — each criterion is a necessary condition (criteria
 * are AND-ed), compared exactly as the compiled SQL compares (compile/token.ts, compile/reference.ts). With 1,000
 * subscriptions on `Observation?code=…`, a write leaves one candidate, not 1,000 branches to plan. The statement
 * itself still decides, with the search's full semantics.
 *
 * A version that is no longer current when its event is matched is not matched (the index tables hold the current
 * version only); the newer version's own event is matched instead. Deletions never notify (R4).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { QueryResult } from 'pg';
import type { Pool, PoolClient } from '../../database/pool';
import { isJsonObject, type JsonObject } from '../../fhir/json';
import { criteriaKey, type Criterion, type ReferenceValue, type TokenValue } from '../../fhir/search/criteria';
import { bareDigits } from '../../fhir/search/normalise';
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
  /** Necessary conditions on the resource's index rows (its token, reference and _id criteria). */
  anchors: Anchor[];
}

/** An index row of the event resource, as the prefilter reads it. */
interface IndexRow {
  kind: 't' | 'r';
  param: string;
  /** token: system, code; reference: target_type, target_id, url */
  a: string | null;
  b: string | null;
  c: string | null;
}

type Anchor = { kind: 'id'; ids: string[] } | { kind: 't' | 'r'; param: string; test: (row: IndexRow) => boolean };

/** `values` OR-ed, as compile/token.ts tokenCondition compares them. */
function tokenTest(values: TokenValue[]): (row: IndexRow) => boolean {
  return (row) =>
    values.some((v) => {
      if (v.code === null) return !!v.system && row.a === v.system;
      if (v.system === undefined) return row.b === v.code || row.b === bareDigits(v.code);
      if (v.system === null) return row.b === v.code && row.a === null;
      return row.b === v.code && row.a === v.system;
    });
}

/** `values` OR-ed, as compile/reference.ts referenceCondition compares them. */
function referenceTest(values: ReferenceValue[]): (row: IndexRow) => boolean {
  return (row) =>
    values.some((v) => {
      if (v.url !== undefined) return row.c !== null && row.c === v.url;
      if (v.type) return row.b === v.id && row.a === v.type;
      return row.b === v.id;
    });
}

function anchorsOf(criteria: Criterion[]): Anchor[] {
  const out: Anchor[] = [];
  for (const c of criteria) {
    if (c.kind === 'id') out.push({ kind: 'id', ids: c.ids });
    else if (c.kind === 'token' && !c.not && c.values.length) out.push({ kind: 't', param: c.code, test: tokenTest(c.values) });
    else if (c.kind === 'reference' && c.values.length) out.push({ kind: 'r', param: c.code, test: referenceTest(c.values) });
  }
  return out;
}

/** Whether the resource (its id, its index rows) may match: every anchor satisfied. */
function mayMatch(anchors: Anchor[], id: string, rows: IndexRow[]): boolean {
  return anchors.every((a) => (a.kind === 'id' ? a.ids.includes(id) : rows.some((r) => r.kind === a.kind && r.param === a.param && a.test(r))));
}

interface Row {
  generation: string;
  id: string | null;
  version_id: number | null;
  owner_updated: string | null;
  content: string | null;
  actor: string | null;
  access: string | null;
}

/** The subscriptions' generation (bumped by every change of an active Subscription). */
export const GENERATION_SQL = 'SELECT generation::text AS g FROM subscription_state';

const LOAD_SQL = `SELECT s.generation::text AS generation, r.id, r.version_id, o.updated::text AS owner_updated,
       r.content::text AS content, o.actor::text AS actor, o.access::text AS access
  FROM subscription_state s
  LEFT JOIN (resource r JOIN subscription_owner o ON o.id = r.id)
    ON r.resource_type = 'Subscription' AND NOT r.deleted AND r.content->>'status' = 'active'`;

export class SubscriptionIndex {
  private generation: string | undefined;
  private byType = new Map<string, ActiveSubscription[]>();
  private loading: Promise<void> | undefined;
  /** Parsed entries by subscription id, with the version and owner they were parsed from (a reload reuses them). */
  private parsed = new Map<string, { stamp: string; entry: ActiveSubscription }>();

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
    const parsed = new Map<string, { stamp: string; entry: ActiveSubscription }>();
    for (const row of rows) {
      if (!row.id || !row.content || !row.actor) continue;
      try {
        const stamp = `${row.version_id}\u0000${row.owner_updated}`;
        const known = this.parsed.get(row.id);
        const sub = known?.stamp === stamp ? known.entry : await this.entry(row.id, JSON.parse(row.content) as JsonObject, row.actor, row.access);
        if (!sub) continue;
        parsed.set(row.id, { stamp, entry: sub });
        const list = byType.get(sub.resourceType) ?? [];
        list.push(sub);
        byType.set(sub.resourceType, list);
      } catch (e) {
        // e.g. a custom search parameter its criteria used was removed: the subscription cannot be matched
        this.log.warn({ subscription: row.id, error: errorForLog(e) }, 'an active Subscription cannot be matched and is skipped');
      }
    }
    this.byType = byType;
    this.parsed = parsed;
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
      anchors: anchorsOf(criteria),
    };
  }

  /**
   * Of these events, those some active subscription of their resource type might match (deletions never notify).
   * `client` is the dispatch transaction's connection: the generation it reads is at least as new as every event
   * of the batch, so a subscription committed before any of them is in the index before it is consulted. `probed`:
   * GENERATION_SQL's result, read by the dispatcher in its first round trip after taking the batch (same guarantee).
   */
  async wanted(events: readonly ChangeEvent[], client: PoolClient, probed?: QueryResult): Promise<ChangeEvent[]> {
    const changes = events.filter((e) => e.interaction !== 'delete');
    if (changes.length === 0) return [];
    const { rows } = (probed as QueryResult<{ g: string }> | undefined) ?? (await client.query<{ g: string }>(GENERATION_SQL));
    // A load already under way may have begun before the newest subscription committed: load until the index is at
    // least as new as the generation this transaction sees.
    const seen = Number(rows[0]?.g ?? 0);
    for (let i = 0; i < 3 && (this.generation === undefined || Number(this.generation) < seen); i++) await this.load();
    const now = Date.now();
    return changes.filter((e) => this.byType.get(e.resourceType)?.some((s) => s.end === undefined || s.end > now));
  }

  /** The active subscriptions the event's version matches (none for a deletion). */
  async match(event: ChangeEvent): Promise<ActiveSubscription[]> {
    if (event.interaction === 'delete') return [];
    if (this.generation === undefined) await this.load();
    for (let attempt = 1; ; attempt++) {
      const generation = this.generation;
      const now = Date.now();
      const live = (this.byType.get(event.resourceType) ?? []).filter((s) => s.end === undefined || s.end > now);
      // 1. the generation, and the index rows the candidates' anchors look at
      const tokenParams = new Set<string>();
      const referenceParams = new Set<string>();
      for (const s of live) for (const a of s.anchors) if (a.kind !== 'id') (a.kind === 't' ? tokenParams : referenceParams).add(a.param);
      const { rows } = await this.pool.query<IndexRow & { g: string }>(
        `SELECT s.generation::text AS g, x.kind, x.param, x.a, x.b, x.c FROM subscription_state s LEFT JOIN (
           SELECT 't' AS kind, param, system AS a, code AS b, NULL::text AS c FROM search_token
            WHERE id = $1 AND resource_type = $2 AND param = ANY($3::text[])
           UNION ALL
           SELECT 'r', param, target_type, target_id, url FROM search_reference
            WHERE id = $1 AND resource_type = $2 AND param = ANY($4::text[])
         ) x ON true`,
        [event.id, event.resourceType, [...tokenParams], [...referenceParams]],
      );
      if (rows[0]?.g !== generation && attempt < 3) {
        await this.load();
        continue;
      }
      const indexRows = rows.filter((r) => r.kind !== null);
      const candidates = live.filter((s) => mayMatch(s.anchors, event.id, indexRows));
      if (candidates.length === 0) return [];
      // 2. ONE statement: each distinct (criteria, owner access) compiled by the search planner, for this version
      const groups = new Map<string, ActiveSubscription[]>();
      for (const s of candidates) groups.set(s.key, [...(groups.get(s.key) ?? []), s]);
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
      if (parts.length === 0) return [];
      const matched = await this.pool.query<{ q: number }>(parts.join('\nUNION ALL\n'), params);
      return matched.rows.flatMap((r) => branches[r.q]);
    }
  }
}
