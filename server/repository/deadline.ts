/**
 * A request's deadline (AROGYA_REQUEST_DEADLINE_MS): how long a batch or transaction Bundle may work. The write
 * engine's plans check it between slices of CPU work, before each entry's expensive steps (criteria, validation,
 * serialisation, index extraction: one huge entry overshoots it by one such step at most) and before each step of
 * the transaction; they wait for a pool connection at most what is left of it (database/pool.ts `connect`: the
 * pool's own acquisition timeout, shortened for the call) and cap each statement of their transaction at what is
 * left of it (SET LOCAL statement_timeout), so that a Bundle of thousands of entries ends
 * cleanly instead of running for minutes: a transaction rolls back as a whole, a batch answers the entries it had
 * not finished with an OperationOutcome each (repository/transaction.ts). Either is a 503 with Retry-After — a
 * deliberate limit, as the statement timeout's is (database/errors.ts), not an internal error.
 */
import { RETRY_AFTER_SECONDS } from '../database/errors';
import { OperationOutcomeError, issue } from '../fhir/outcome';

/** The deadline passed: thrown by a plan, answered 503 (a transaction) or per entry (a batch). */
export class DeadlineExceeded extends OperationOutcomeError {
  constructor(limitMs: number, what: string) {
    super(
      503,
      [
        issue(
          'error',
          'timeout',
          `${what}: the request ran into the server's limit of ${limitMs} ms for one request's work (AROGYA_REQUEST_DEADLINE_MS). Retry later, or send it in smaller parts`,
        ),
      ],
      { 'Retry-After': String(RETRY_AFTER_SECONDS) },
    );
  }
}

export class Deadline {
  private constructor(
    /** Date.now() value at which the work must stop. */
    readonly at: number,
    /** The limit it was set from (ms), for the diagnostics. */
    readonly limitMs: number,
    /** The server's per-statement limit (AROGYA_STATEMENT_TIMEOUT_MS, 0 = none): a statement is never allowed longer. */
    private readonly statementTimeoutMs: number,
  ) {}

  /** A deadline `limitMs` after `startedAt` (Date.now() ms); none when the limit is 0. */
  static after(limitMs: number, statementTimeoutMs: number, startedAt = Date.now()): Deadline | undefined {
    return limitMs > 0 ? new Deadline(startedAt + limitMs, limitMs, statementTimeoutMs) : undefined;
  }

  get passed(): boolean {
    return Date.now() >= this.at;
  }

  /** Throws DeadlineExceeded once the deadline has passed; `what` says what became of the work. */
  check(what = 'The Bundle was not processed and nothing of it was written'): void {
    if (this.passed) throw new DeadlineExceeded(this.limitMs, what);
  }

  /** What is left of it (ms, ≥ 1). */
  left(): number {
    return Math.max(1, Math.ceil(this.at - Date.now()));
  }

  /**
   * The longest wait for a pool connection starting now: what is left (database/pool.ts `connect` keeps the pool's
   * own AROGYA_POOL_TIMEOUT_MS when that is shorter). Checks the deadline first: a passed one waits for nothing.
   */
  connectionWait(what?: string): number {
    this.check(what);
    return this.left();
  }

  /** The statement_timeout (ms, ≥ 1) for a statement starting now: what is left, never more than the server's own. */
  statementTimeout(): number {
    const left = this.left();
    return this.statementTimeoutMs > 0 ? Math.min(left, this.statementTimeoutMs) : left;
  }
}
