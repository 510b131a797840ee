/**
 * The write engine (DESIGN.md §2, "one write path"): every write runs here, as a plan of entries (bundle-plan.ts)
 * carried out inside one PostgreSQL transaction, with the caller's context (caller.ts) as an argument.
 *
 * - a REST create, update, patch or delete, and their conditional forms: a one-entry plan (`one`, mode 'single');
 * - each batch pass and each transaction Bundle (transaction.ts, so also `arogya import`): a plan of many (`transact`);
 * - bulk $import: a plan per batch of its updates by id (`within` the job's transaction, mode 'import').
 *
 * So If-Match, referential integrity, referrer checks, conditional locking and version writes exist once (in the
 * plan), and every written version passes through ONE function, `commit`: it writes the versions (one set-based
 * statement, writes.ts) and then, in the same transaction, hands them to the `afterWrite` hooks with the caller
 * who wrote them — the place where the outbox and the audit trail attach. Nothing committed bypasses it; nothing
 * it hands on is visible before the transaction commits (and nothing of a rolled-back attempt survives).
 *
 * Plain creates (no If-None-Exist, no references to check) are planned like every other write but need nothing
 * from the database before their write: their versions go to the group commit (coalesce.ts), which sends many of
 * them to `commit` as one autocommit statement.
 */
import type { Pool, PoolClient } from '../database/pool';
import { inTransaction } from '../database/pool';
import { BundlePlan, type PlanMode, type PlanRequest, type PreferReturn, type ReadHandler, type Work } from './bundle-plan';
import { SYSTEM_CALLER, type Caller } from './caller';
import type { Deadline } from './deadline';
import { Coalescer } from './coalesce';
import type { Commit, CommitOptions, StoredVersion, WritePlanner } from './versions';

export type { CommitOptions } from './versions';
import { unrestrictedFor } from './search/compile/access';
import { recordSearchParameterWrites } from './search/parameters';
import { CLAIM_TAKEN, KnownDictionaryValues, versionWritesStatement, type OutboxRows, type VersionWrite } from './writes';

/**
 * Called at the commit point with the versions just written for one caller, inside the writing transaction
 * (`client`): what a hook writes with `client` commits or rolls back with them. `content` of a version is the
 * stored JSON unless the writer asked for none (bundles answering return=minimal). The hooks today: subscription
 * owners, the event dispatcher's wake-up, the HMS workflows (the outbox rows are part of the write statement itself,
 * `outbox`).
 *
 * `writesFor`: whether the hook would use `client` for writes of these types. A hook that says no for every version
 * of a commit lets an autocommit write (the group commit of plain creates) stay ONE statement, without a transaction
 * of its own; it is then called with no transaction in progress and must not touch `client`. A hook without
 * `writesFor` always gets a transaction.
 */
export type AfterWriteHook = ((client: PoolClient, caller: Caller, versions: readonly StoredVersion[]) => Promise<void>) & {
  writesFor?: (resourceTypes: readonly string[]) => boolean;
};

/** The actor as the outbox stores it (JSON text), once per caller. */
const outboxActors = new WeakMap<Caller, string>();
function outboxActor(caller: Caller): string {
  let actor = outboxActors.get(caller);
  if (actor === undefined) {
    const { kind, reference, clientId } = caller.actor;
    actor = JSON.stringify({ kind, reference, clientId });
    outboxActors.set(caller, actor);
  }
  return actor;
}

/** The event_outbox rows of `writes`: whose each is and in which request (one caller for all, or one per version). */
function outboxRows(writes: readonly VersionWrite[], callers: Caller | readonly Caller[]): OutboxRows {
  const of = (i: number): Caller => (Array.isArray(callers) ? (callers as readonly Caller[])[i] : (callers as Caller));
  return { actors: writes.map((_, i) => outboxActor(of(i))), requestIds: writes.map((_, i) => of(i).requestId ?? null) };
}

/** Attempts of a plan whose transaction failed on a deadlock, a serialisation failure or a lost race on a new id. */
export const ATTEMPTS = 4;
const RETRYABLE = new Set(['40P01', '40001', '23505']);

export function isRetryable(e: unknown): boolean {
  return RETRYABLE.has((e as { code?: string }).code ?? '');
}

/** A connection checked out of the pool (inside a transaction here), as opposed to the pool itself (autocommit). */
export function isPoolClient(c: Pool | PoolClient): c is PoolClient {
  return typeof (c as PoolClient).release === 'function';
}

/** `versions` split by the caller that wrote each (in order of first appearance). */
function byCaller(versions: StoredVersion[], callers: Caller | readonly Caller[]): [Caller, StoredVersion[]][] {
  if (!Array.isArray(callers)) return [[callers as Caller, versions]];
  const groups = new Map<Caller, StoredVersion[]>();
  versions.forEach((v, i) => {
    const c = (callers as readonly Caller[])[i];
    groups.set(c, [...(groups.get(c) ?? []), v]);
  });
  return [...groups];
}

export class WriteEngine {
  /** The commit point's hooks (see AfterWriteHook), called in order. */
  readonly afterWrite: AfterWriteHook[];
  /** Group commit of plain creates: at most this many write statements of them at a time. */
  private readonly creates: Coalescer<{ write: VersionWrite; caller: Caller }, StoredVersion>;
  /** search_string_dict values this process knows are committed (writes.ts). */
  private readonly knownDictionaryValues = new KnownDictionaryValues();
  /** `commit`, as the plans call it for their step 8. */
  private readonly commitPoint: Commit = (client, writes, opts) => this.commit(client, writes, opts);

  /** Whether every written version gets its event_outbox row (in the write statement itself: writes.ts `ins_outbox`). */
  private readonly outbox: boolean;

  constructor(
    private readonly repo: WritePlanner,
    private readonly pool: Pool,
    opts: { groupCommitStatements?: number; afterWrite?: AfterWriteHook[]; outbox?: boolean } = {},
  ) {
    this.afterWrite = [...(opts.afterWrite ?? [])];
    this.outbox = opts.outbox ?? false;
    this.creates = new Coalescer(
      (items) =>
        this.commit(
          this.pool,
          items.map((i) => i.write),
          { caller: items.map((i) => i.caller) },
        ),
      // One statement in flight per process: side by side, 16 clients creating Patients cost 0.74-0.82x the CPU per
      // create with one as with two (bigger batches: fewer statements, commits and round trips, and no two
      // statements of one process contending for the same index pages), at higher throughput and lower latency.
      opts.groupCommitStatements ?? 1,
    );
  }

  /**
   * Plans and writes `requests` in ONE PostgreSQL transaction; a deadlock, serialisation failure or lost race on
   * a new id is retried with a fresh plan (a plan never mutates the requests it was given).
   */
  async transact(
    caller: Caller,
    requests: PlanRequest[],
    mode: PlanMode,
    prefer: PreferReturn,
    opts: { read?: ReadHandler; attempts?: number; deadline?: Deadline } = {},
  ): Promise<BundlePlan> {
    for (let attempt = 1; ; attempt++) {
      try {
        // under a deadline, the wait for the connection ends by it too (a ConnectionWaitExceeded: transaction.ts)
        return await inTransaction(
          this.pool,
          (client) => this.within(client, caller, requests, mode, prefer, opts.read, opts.deadline),
          'BEGIN',
          opts.deadline?.connectionWait(),
        );
      } catch (e) {
        if (attempt < (opts.attempts ?? ATTEMPTS) && isRetryable(e) && !opts.deadline?.passed) continue;
        throw e;
      }
    }
  }

  /** Plans and writes `requests` inside the transaction of `client`, which the caller owns (and may add to); no retry. */
  async within(
    client: PoolClient,
    caller: Caller,
    requests: PlanRequest[],
    mode: PlanMode,
    prefer: PreferReturn,
    read?: ReadHandler,
    deadline?: Deadline,
  ): Promise<BundlePlan> {
    const plan = new BundlePlan(this.repo, this.commitPoint, requests, mode, prefer, caller, read, deadline);
    await plan.run(client);
    return plan;
  }

  /** One REST interaction as a one-entry plan (errors thrown as they are); its entry's state once written. */
  async one(caller: Caller, request: PlanRequest): Promise<Work> {
    // A caller whose access restricts the rows it may create writes in a transaction: the written rows are checked
    // against its access before they commit (bundle-plan.ts step 8), which the group commit's autocommit statement
    // cannot do. Access without a row-level condition on the type (e.g. system/*.cruds) needs no such check.
    if (request.op !== 'create' || request.ifNoneExist !== undefined || !unrestrictedFor(caller.access, 'c', request.type)) {
      return (await this.transact(caller, [request], 'single', 'representation')).works[0];
    }
    // A create without criteria is planned without the database; only its reference targets may need a read.
    const plan = new BundlePlan(this.repo, this.commitPoint, [request], 'single', 'representation', caller);
    await plan.plan();
    if (plan.checksReferences) {
      await inTransaction(this.pool, (client) => plan.execute(client));
      return plan.works[0];
    }
    // A unique identifier it carries (an NHID) is claimed by its own statement (writes.ts), not in a transaction.
    const [write] = plan.versionsClaiming();
    if (write.resourceType === 'SearchParameter') {
      // SearchParameter writes take a transaction of their own (commit): they are not grouped.
      plan.settle(await this.commit(this.pool, [write], { caller }));
      return plan.works[0];
    }
    try {
      plan.settle([await this.creates.write({ write, caller })]);
    } catch (e) {
      // An identifier it claims is held (or was claimed by a create grouped with it and retried first): planned
      // again alone in a transaction, whose claim step names the holder in its 409 — or writes it, if the holder
      // has let go of the identifier meanwhile.
      if (write.claims && (e as { code?: string }).code === CLAIM_TAKEN) {
        return (await this.transact(caller, [request], 'single', 'representation')).works[0];
      }
      throw e;
    }
    return plan.works[0];
  }

  /**
   * THE commit point: writes planned versions as one multi-row statement inside `client`'s transaction, then hands
   * them to the afterWrite hooks in that transaction. On the pool (autocommit) it opens a transaction of its own
   * when the statement does not stand alone: a SearchParameter's state (and reindex job) or the hooks' writes
   * must commit with the versions.
   */
  async commit(client: Pool | PoolClient, writes: VersionWrite[], opts: CommitOptions = {}): Promise<StoredVersion[]> {
    if (writes.length === 0) return [];
    // Inside a caller's transaction that may still roll back: nothing is learnt about committed dictionary values.
    if (isPoolClient(client)) return (await this.write(client, writes, opts)).written;
    const types = writes.map((w) => w.resourceType);
    const alone = !types.includes('SearchParameter') && this.afterWrite.every((h) => h.writesFor?.(types) === false);
    const { written, dictValues } = alone
      ? await this.write(client, writes, opts)
      : await inTransaction(this.pool, (c) => this.write(c, writes, opts));
    this.knownDictionaryValues.addAll(dictValues);
    return written;
  }

  private async write(
    client: Pool | PoolClient,
    writes: VersionWrite[],
    opts: CommitOptions,
  ): Promise<{ written: StoredVersion[]; dictValues: string[] }> {
    const outbox = this.outbox ? outboxRows(writes, opts.caller ?? SYSTEM_CALLER) : undefined;
    const { dictValues, ...stmt } = versionWritesStatement(writes, opts.returnContent ?? true, this.knownDictionaryValues, outbox);
    const { rows } = await client.query<{ ord: number; last_updated: string; content: string | null }>(stmt);
    if (writes.some((w) => w.resourceType === 'SearchParameter')) {
      await recordSearchParameterWrites(client as PoolClient, writes);
      this.repo.searchParametersWritten();
    }
    const written: StoredVersion[] = rows.map((r, i) => ({
      resourceType: writes[i].resourceType,
      id: writes[i].id,
      versionId: writes[i].versionId,
      lastUpdated: r.last_updated,
      deleted: writes[i].content === undefined,
      content: r.content ?? undefined,
    }));
    const groups = byCaller(written, opts.caller ?? SYSTEM_CALLER);
    for (const hook of this.afterWrite) {
      for (const [caller, versions] of groups) await hook(client as PoolClient, caller, versions);
    }
    // The request's audit trail learns what it wrote (and whose data: from the JSON in hand, not read again).
    if (groups.some(([caller]) => caller.audit)) {
      const sent = new Map(written.map((v, i) => [v, writes[i].content]));
      for (const [caller, versions] of groups) {
        for (const v of versions) caller.audit?.touched(v.resourceType, v.id, v.versionId, v.content ?? sent.get(v));
      }
    }
    return { written, dictValues };
  }
}
