/**
 * The custom SearchParameter runner, one per server process (started by app.ts): every `pollMs` it
 * - syncs this process's search parameter registry with search_parameter_state (parameters.ts), so every
 *   node:cluster worker — and every server on the same database — serves the same parameters within one interval;
 * - runs at most one reindex job: a pending parameter, claimed with a lease (SKIP LOCKED, so processes share the
 *   work and a dead process's job is resumed from its cursor once the lease expires);
 * - otherwise purges, in batches, the index rows of (type, code) pairs no parameter serves any more.
 *
 * A reindex job starts only `graceMs` (three polling intervals) after the parameter was defined, when every
 * process has it in its registry and extracts it on every new write. It then walks the resources of each base type
 * in keyset batches on (last_updated, id) — the resource table's own index — and writes that parameter's rows only,
 * one short transaction per batch: delete and insert for the resources still at the version it read, locked FOR
 * SHARE for the statement, so a concurrent update either commits first (the batch skips the resource: the update
 * extracted the parameter itself) or waits for the batch (and then replaces the batch's rows with its own). No lock
 * is held between batches. A final catch-up pass re-reads what was written since shortly before the definition,
 * for writes a process planned with its previous registry. Then the parameter becomes active.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { inTransaction, type Pool, type PoolClient } from '../../database/pool';
import { registryEntries, type CustomParamDefinition } from '../../fhir/search/custom';
import { compileParamExtractor, derivedParamCodes, extractParamRows, type ParamExtractor } from '../../fhir/search/extract';
import { parseStoredJson } from '../../fhir/json';
import { INDEX_TABLES, stringDictionaryCte } from '../writes';
import { syncSearchParameterRegistry } from './parameters';
import { errorForLog } from '../../logging';

export interface RunnerLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SearchParameterRunnerOptions {
  pool: Pool;
  timeZone: string;
  baseUrl: string;
  log: RunnerLog;
  /** How often the registry is synced and work looked for (ms). */
  pollMs: number;
  /** Resources per reindex batch. */
  batchSize?: number;
}

/** A run of a job may hold its lease this long without renewing it (each batch renews it). */
const LEASE_SECONDS = 60;
const MAX_ATTEMPTS = 5;
/** The catch-up pass starts this long before the definition was written (writes planned before it, committed after). */
const CATCH_UP_MARGIN_SECONDS = 60;
const PURGE_BATCH = 5000;
const INSTANT_US = (col: string): string => `to_char((${col}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

interface Cursor {
  phase: 'walk' | 'catch-up';
  /** index into the definition's base types */
  base: number;
  /** keyset position (null: from the beginning of this base) */
  at: string | null;
  id: string;
}

interface Claimed {
  id: string;
  version_id: number;
  definition: string;
  cursor: string | null;
  total: number | null;
  attempts: number;
  catch_up_from: string;
}

class Superseded extends Error {}
class Stopping extends Error {}

/** Index tables a custom parameter can have rows in (no full-text rows, no combined code+date rows). */
const TABLES = INDEX_TABLES.filter((t) => t.name !== 'search_text' && t.name !== 'search_code_date');

function batchStatement(): string {
  // $1 ids, $2 versions, $3 type, $4 param codes; per table: ids then one array per column.
  let n = 5;
  const ctes = TABLES.map((t) => {
    const ids = `$${n++}`;
    const cols = t.columns.map((c) => ({ ...c, p: `$${n++}` }));
    return `
  del_${t.name} AS (DELETE FROM ${t.name} x USING live WHERE x.id = live.id AND x.resource_type = $3 AND x.param = ANY($4::text[])),
  ins_${t.name} AS (
    INSERT INTO ${t.name} (id, resource_type, ${cols.map((c) => c.name).join(', ')})
    SELECT live.id, $3, ${cols.map((c) => `r.${c.name}`).join(', ')}
      FROM unnest(${ids}::text[], ${cols.map((c) => `${c.p}::${c.sqlType}[]`).join(', ')}) AS r(id, ${cols.map((c) => c.name).join(', ')})
      JOIN live ON live.id = r.id
  ),${t.name === 'search_string' ? stringDictionaryCte(cols.find((c) => c.name === 'value')!.p) : ''}`;
  });
  return `WITH
  live AS (
    SELECT r.id FROM resource r JOIN unnest($1::text[], $2::int[]) AS b(id, vid) ON r.id = b.id AND r.version_id = b.vid
     WHERE r.resource_type = $3 AND NOT r.deleted
     FOR SHARE OF r
  ),${ctes.join('')}
  done AS (SELECT 1)
  SELECT count(*)::int AS n FROM live`;
}

let BATCH_SQL: string | undefined;

export class SearchParameterRunner {
  private readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private job: Promise<void> | undefined;
  private tickRunning: Promise<void> | undefined;
  private stopping = false;
  private readonly batchSize: number;

  constructor(private readonly opts: SearchParameterRunnerOptions) {
    this.batchSize = opts.batchSize ?? 500;
  }

  /** Before a job starts, every process has had three polling intervals to learn the new definition. */
  get graceMs(): number {
    return 3 * this.opts.pollMs + 1000;
  }

  async start(): Promise<void> {
    await syncSearchParameterRegistry(this.opts.pool);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.tickRunning?.catch(() => undefined);
    await this.job?.catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.tickRunning = this.tick().finally(() => {
        this.tickRunning = undefined;
        this.schedule();
      });
    }, this.opts.pollMs);
    this.timer.unref();
  }

  /** One polling step (also callable directly, e.g. by tests). */
  async tick(): Promise<void> {
    try {
      await syncSearchParameterRegistry(this.opts.pool);
      if (this.job || this.stopping) return;
      const claimed = await this.claim();
      const work = claimed ? this.run(claimed) : (await this.purgeStep()) ? this.purgeAll() : undefined;
      if (work !== undefined) {
        this.job = work.finally(() => {
          this.job = undefined;
        });
      }
    } catch (e) {
      if (!this.stopping) this.opts.log.error({ error: errorForLog(e) }, 'search parameter runner: polling step failed');
    }
  }

  private async claim(): Promise<Claimed | undefined> {
    const { rows } = await this.opts.pool.query<Claimed>(
      `UPDATE search_parameter_state s
          SET lease_owner = $1, lease_until = now() + make_interval(secs => $2), attempts = attempts + 1,
              started_at = coalesce(started_at, now())
        WHERE id = (SELECT id FROM search_parameter_state
                     WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < now())
                       AND registered_at + make_interval(secs => $3) <= now()
                     ORDER BY registered_at LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id, version_id, definition, cursor, total, attempts,
                  ${INSTANT_US(`registered_at - make_interval(secs => ${CATCH_UP_MARGIN_SECONDS})`)} AS catch_up_from`,
      [this.owner, LEASE_SECONDS, this.graceMs / 1000],
    );
    return rows[0];
  }

  private async run(job: Claimed): Promise<void> {
    const def = JSON.parse(job.definition) as CustomParamDefinition;
    const log = { id: job.id, version: job.version_id, code: def.code, base: def.base };
    this.opts.log.info(log, 'reindex started');
    try {
      await this.reindex(job, def);
      await this.opts.pool.query(
        `UPDATE search_parameter_state SET status = 'active', finished_at = now(), cursor = NULL, lease_owner = NULL, lease_until = NULL, error = NULL
          WHERE id = $1 AND version_id = $2 AND lease_owner = $3 AND status = 'pending'`,
        [job.id, job.version_id, this.owner],
      );
      await syncSearchParameterRegistry(this.opts.pool);
      this.opts.log.info(log, 'reindex completed: the search parameter is active');
    } catch (e) {
      if (e instanceof Superseded) {
        this.opts.log.info(log, 'reindex superseded by a newer definition');
        return;
      }
      if (e instanceof Stopping) {
        // Shutdown: give the job back at once (not counted as an attempt); another process resumes from the cursor.
        await this.opts.pool
          .query(
            `UPDATE search_parameter_state SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 WHERE id = $1 AND lease_owner = $2`,
            [job.id, this.owner],
          )
          .catch(() => undefined);
        return;
      }
      const message = (e as Error).message;
      const failed = job.attempts >= MAX_ATTEMPTS;
      this.opts.log.error(
        { ...log, error: errorForLog(e), attempt: job.attempts },
        failed ? 'reindex failed' : 'reindex attempt failed; retried later',
      );
      // Retried (by any process) after a back-off; after MAX_ATTEMPTS it stays failed until a `$reindex`.
      await this.opts.pool
        .query(
          `UPDATE search_parameter_state SET error = $3, lease_owner = NULL,
                  lease_until = now() + make_interval(secs => $4), status = CASE WHEN $5::bool THEN 'failed' ELSE status END,
                  finished_at = CASE WHEN $5::bool THEN now() END
            WHERE id = $1 AND version_id = $2 AND lease_owner = $6`,
          [job.id, job.version_id, message, 5 * 2 ** job.attempts, failed, this.owner],
        )
        .catch(() => undefined);
      await syncSearchParameterRegistry(this.opts.pool).catch(() => undefined);
    }
  }

  private async reindex(job: Claimed, def: CustomParamDefinition): Promise<void> {
    const pool = this.opts.pool;
    const codes = derivedParamCodes(def.code);
    const extractors = new Map<string, ParamExtractor>(
      registryEntries(def, { id: job.id, versionId: job.version_id, status: 'pending', percent: 0 }).map((e) => [
        e.type,
        compileParamExtractor(e.type, e.param),
      ]),
    );
    if (job.total === null) {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::bigint AS n FROM resource WHERE resource_type = ANY($1::text[]) AND NOT deleted`,
        [def.base],
      );
      await pool.query(`UPDATE search_parameter_state SET total = $2 WHERE id = $1 AND lease_owner = $3`, [job.id, rows[0].n, this.owner]);
    }
    let cursor: Cursor = job.cursor ? (JSON.parse(job.cursor) as Cursor) : { phase: 'walk', base: 0, at: null, id: '' };
    for (;;) {
      if (this.stopping) throw new Stopping();
      if (cursor.base >= def.base.length) {
        if (cursor.phase === 'catch-up') return;
        cursor = { phase: 'catch-up', base: 0, at: job.catch_up_from, id: '' };
        continue;
      }
      const type = def.base[cursor.base];
      const { rows } = await pool.query<{ id: string; version_id: number; at: string; content: string }>(
        `SELECT id, version_id, ${INSTANT_US('last_updated')} AS at, content FROM resource
          WHERE resource_type = $1 AND NOT deleted ${cursor.at === null ? '' : 'AND (last_updated, id) > ($3::timestamptz, $4::text)'}
          ORDER BY last_updated, id LIMIT $2`,
        cursor.at === null ? [type, this.batchSize] : [type, this.batchSize, cursor.at, cursor.id],
      );
      const last = rows[rows.length - 1];
      const next: Cursor = last
        ? { ...cursor, at: last.at, id: last.id }
        : { phase: cursor.phase, base: cursor.base + 1, at: cursor.phase === 'walk' ? null : job.catch_up_from, id: '' };
      await this.writeBatch(job, type, codes, extractors.get(type)!, rows, next, cursor.phase === 'walk' ? rows.length : 0);
      cursor = next;
    }
  }

  /** One short transaction: the state row held FOR SHARE (a new definition waits for it), the rows, the cursor. */
  private async writeBatch(
    job: Claimed,
    type: string,
    codes: string[],
    extractor: ParamExtractor,
    rows: { id: string; version_id: number; content: string }[],
    next: Cursor,
    counted: number,
  ): Promise<void> {
    const opts = { timeZone: this.opts.timeZone, baseUrl: this.opts.baseUrl };
    const values: unknown[] = [rows.map((r) => r.id), rows.map((r) => r.version_id), type, codes];
    const perTable = TABLES.map((t) => ({ ids: [] as string[], cols: t.columns.map(() => [] as unknown[]) }));
    for (const r of rows) {
      const index = extractParamRows(parseStoredJson(r.content), [extractor], opts);
      TABLES.forEach((t, i) => {
        for (const row of index[t.name] ?? []) {
          perTable[i].ids.push(r.id);
          row.forEach((v, c) => {
            perTable[i].cols[c].push(v);
          });
        }
      });
    }
    for (const t of perTable) values.push(t.ids, ...t.cols);
    await inTransaction(this.opts.pool, async (client) => {
      const held = await client.query(
        `SELECT 1 FROM search_parameter_state WHERE id = $1 AND version_id = $2 AND lease_owner = $3 AND status = 'pending' FOR SHARE`,
        [job.id, job.version_id, this.owner],
      );
      if (held.rowCount !== 1) throw new Superseded();
      if (rows.length) await client.query((BATCH_SQL ??= batchStatement()), values);
      await client.query(
        `UPDATE search_parameter_state SET cursor = $2::jsonb, done = done + $3, lease_until = now() + make_interval(secs => $4) WHERE id = $1`,
        [job.id, JSON.stringify(next), counted, LEASE_SECONDS],
      );
    });
  }

  /** Purges batch after batch (in the background of the polling) until nothing is left or the server stops. */
  private async purgeAll(): Promise<void> {
    try {
      while (!this.stopping && (await this.purgeStep()));
    } catch (e) {
      if (!this.stopping) this.opts.log.error({ error: errorForLog(e) }, 'search parameter runner: purge failed; retried at the next poll');
    }
  }

  /**
   * Deletes one batch of index rows of a purged (type, code) pair; the pair is done when nothing is left. True when
   * there was a pair to work on.
   */
  private async purgeStep(): Promise<boolean> {
    return inTransaction(this.opts.pool, async (client: PoolClient) => {
      const { rows } = await client.query<{ resource_type: string; code: string }>(
        `SELECT resource_type, code FROM search_parameter_purge ORDER BY queued_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      const pair = rows[0];
      if (pair) {
        const codes = derivedParamCodes(pair.code);
        let deleted = 0;
        for (const t of TABLES) {
          const res = await client.query(
            `DELETE FROM ${t.name} WHERE resource_type = $1 AND param = ANY($2::text[])
                AND id IN (SELECT id FROM ${t.name} WHERE resource_type = $1 AND param = ANY($2::text[]) LIMIT ${PURGE_BATCH})`,
            [pair.resource_type, codes],
          );
          deleted += res.rowCount ?? 0;
        }
        if (deleted === 0)
          await client.query(`DELETE FROM search_parameter_purge WHERE resource_type = $1 AND code = $2`, [pair.resource_type, pair.code]);
      }
      return pair !== undefined;
    });
  }
}
