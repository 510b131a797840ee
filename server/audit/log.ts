/**
 * The audit log's writer: `record` only appends to an in-process buffer (no I/O on the request path): the event's
 * JSON text, kept in the batch it will be written with. A batch is written as ONE row of `audit_batch` (its events
 * as a JSON array, plus the union of their patients and agents for the indexes) every `flushMs` (default 50 ms)
 * or as soon as it holds `maxBatch` records (default 200), one INSERT at a time per process. `close()` (the app's
 * onClose, after a drain) writes what is left, so a clean stop loses nothing that was recorded.
 *
 * Why so often: what a pending batch holds per event outlives V8's young-generation collections when it waits
 * longer than the time between two of them, and is then copied and promoted to the old generation — under read
 * load here a worker allocates ~40 KB a request, collects every ~110 ms (~330 requests), and with 200 ms batches
 * promoted 1.2–1.6 MB at every collection (`--trace-gc-nvp`) against 3–7 KB with 50 or 100 ms batches, and spent
 * ~44 µs more node CPU per read (side by side in alternating slices: 321 against 272 µs a read, all processes,
 * PostgreSQL's share the same). A batch is therefore written well within one collection interval: at most 50 ms, and
 * at most 200 events however fast requests come (the count, not the clock, bounds it on a quicker machine).
 *
 * What a crash loses: a process killed with SIGKILL (or a machine that dies) loses the records of its last flush
 * interval (≤ flushMs, or the INSERT in flight); so does a database outage longer than the buffer can hold
 * (`maxBuffered` records, then the oldest batches are dropped and the drop is logged). A failed INSERT is retried
 * at the next flush. Responses never wait for the audit log and never fail because of it.
 */
import crypto from 'node:crypto';
import type { Pool } from '../database/pool';
import type { AuditInput } from './event';

/** One event as stored in a batch's JSON array (migration 20261205000200; read by store.ts and the audit_event view). */
export interface AuditRow {
  recorded: string;
  type: string;
  subtype: string;
  action: string;
  outcome: number;
  client_id?: string;
  who?: string;
  address?: string;
  patient?: string[];
  request_id?: string;
  detail?: object;
}

export interface AuditLogOptions {
  /** Longest a record waits in memory before its INSERT starts (ms). */
  flushMs: number;
  /** Records per INSERT; a full batch is written at once. */
  maxBatch?: number;
  /** Records kept while the database cannot take them; beyond, the oldest are dropped. */
  maxBuffered?: number;
  /** Where failures are reported (never with the records' content). */
  warn: (msg: string) => void;
}

/**
 * One batch row, committed without waiting for its WAL to reach the disk (`synchronous_commit = off` for this
 * transaction only): the WAL writer flushes it within a few hundred milliseconds, together with everything else.
 * Waiting costs a disk flush per batch and process (on a virtual disk, mostly CPU in the kernel) for a guarantee the
 * buffer in memory does not give anyway: a crash loses at most the last moments of audit either way.
 */
const INSERT_SQL = `INSERT INTO audit_batch (id, first_recorded, last_recorded, patients, agents, events)
  SELECT $1, $2, $3, $4, $5, $6 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

/** The `YYYY-MM-DDTHH:MM:SS` of the second last formatted, and that second (ms since the epoch / 1000). */
let isoSecond = Number.NaN;
let isoPrefix = '';

/**
 * `new Date(ms).toISOString()` (years 0 to 9999) without formatting a date per event: the date and
 * time to the second change once a second; the milliseconds are appended. (toISOString costs about a microsecond
 * and a half here, as much as the rest of recording an event.)
 */
export function isoInstant(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 19);
  }
  const milli = ms - second * 1000;
  return `${isoPrefix}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

let lastMs = 0;
let sequence = 0;

/**
 * A time-ordered UUID (RFC 9562 version 7 layout: 48-bit Unix milliseconds, a 12-bit counter within the millisecond,
 * then random bits), so ids sort in the order this process recorded its events and the primary key grows at its
 * right edge. A clock that steps back, or more than 4,096 events in a millisecond, borrow the next millisecond.
 */
export function timeOrderedUuid(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    lastMs++;
    sequence = 0;
  }
  const r = crypto.randomUUID();
  const t = lastMs.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${sequence.toString(16).padStart(3, '0')}-${r.slice(19)}`;
}

/**
 * The events waiting for one INSERT: each already as its JSON text (one flat string per event, so that events
 * held for a flush interval cost the garbage collector nothing to trace and little to move), with the union of
 * their patients and agents and their time span.
 */
interface Batch {
  events: string[];
  patients: Set<string>;
  agents: Set<string>;
  first: string;
  last: string;
}

export class AuditLog {
  /** Batches waiting, oldest first; only the last one takes new events (until it holds maxBatch). */
  private batches: Batch[] = [];
  /** Events in `batches`. */
  private waiting = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The INSERT in progress (one at a time), so flush() can wait for everything recorded before it. */
  private writing: Promise<void> = Promise.resolve();
  private dropped = 0;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;

  constructor(
    private readonly pool: Pool,
    private readonly opts: AuditLogOptions,
  ) {
    this.maxBatch = opts.maxBatch ?? 200;
    this.maxBuffered = opts.maxBuffered ?? 100_000;
  }

  /** Appends one event; returns at once. Its id and `recorded` time are given here. */
  record(e: AuditInput): void {
    const recorded = isoInstant(Date.now());
    const row: AuditRow = { recorded, type: e.type, subtype: e.subtype, action: e.action, outcome: e.outcome };
    if (e.clientId !== undefined) row.client_id = e.clientId;
    if (e.who !== undefined) row.who = e.who;
    if (e.address !== undefined) row.address = e.address;
    if (e.patient?.length) row.patient = e.patient;
    if (e.requestId !== undefined) row.request_id = e.requestId;
    if (e.detail) row.detail = e.detail;
    let batch = this.batches[this.batches.length - 1];
    if (batch === undefined || batch.events.length >= this.maxBatch) {
      batch = { events: [], patients: new Set(), agents: new Set(), first: recorded, last: recorded };
      this.batches.push(batch);
    }
    batch.events.push(JSON.stringify(row));
    batch.last = recorded;
    if (e.patient) for (const p of e.patient) batch.patients.add(p);
    if (e.clientId !== undefined) batch.agents.add(e.clientId);
    if (e.who !== undefined) batch.agents.add(e.who);
    this.waiting++;
    // beyond maxBuffered (the database has not taken them for a long while), the oldest batches go
    while (this.waiting > this.maxBuffered && this.batches.length > 1) {
      const old = this.batches.shift()!;
      this.waiting -= old.events.length;
      this.dropped += old.events.length;
    }
    if (batch.events.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs).unref();
  }

  /** Records waiting in memory (not yet handed to an INSERT). */
  get pending(): number {
    return this.waiting;
  }

  /** Writes everything recorded so far; resolves once it is committed (or has failed and been put back). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.writing = this.writing.then(() => this.writeBuffered());
    return this.writing;
  }

  private async writeBuffered(): Promise<void> {
    // Only what waits now: events recorded while these INSERTs run go to a new batch and wait for their own interval
    // (or a full batch), so that a busy process writes a few large batches rather than a stream of tiny ones.
    const todo = this.batches;
    this.batches = [];
    for (const b of todo) this.waiting -= b.events.length;
    for (let i = 0; i < todo.length; i++) {
      const b = todo[i];
      try {
        await this.pool.query({
          // prepared: planned once per connection, not at every flush
          name: 'arogya_audit_batch',
          text: INSERT_SQL,
          values: [timeOrderedUuid(), b.first, b.last, [...b.patients], [...b.agents], `[${b.events.join(',')}]`],
        });
      } catch (e) {
        // Kept for the next flush, ahead of newer records; the reason is logged without the records.
        const back = todo.slice(i);
        this.batches.unshift(...back);
        for (const k of back) this.waiting += k.events.length;
        this.opts.warn(`audit: ${b.events.length} events not written yet (${(e as { code?: string }).code ?? (e as Error).message}); retrying`);
        this.timer ??= setTimeout(() => void this.flush(), Math.max(this.opts.flushMs, 1000)).unref();
        return;
      }
    }
    if (this.waiting) this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs).unref();
    if (this.dropped) {
      this.opts.warn(`audit: ${this.dropped} events dropped while the database could not take them`);
      this.dropped = 0;
    }
  }
}
