/**
 * Natural batching of independent statements: concurrent requests of one process share one set-based statement
 * instead of paying a round trip each (on this kind of machine a socket write and its answer cost more CPU than a
 * primary-key probe). Two users: group commit of plain creates (write-engine.ts: one multi-row write statement, one
 * commit and one WAL flush for many), and reads by id on the pool (reads.ts: one `= ANY` probe for many).
 *
 * Natural batching, no timer: a write goes out at once when fewer than `maxInFlight` statements are running (so a
 * lone request waits for nothing); otherwise it queues, and when a running statement ends, everything queued by
 * then leaves together as the next statement. The set-based write statement (writes.ts) takes any mix of
 * resource types. Every caller is answered only after its statement committed, so nothing acknowledged is lost.
 *
 * A statement is atomic: when it fails with a PostgreSQL error nothing of it was written, and each of its writes
 * is retried alone so that one bad write (e.g. a value PostgreSQL refuses) fails only its own request. A failure
 * without a PostgreSQL error code (the connection broke: the commit may or may not have happened) is not retried;
 * every caller of that statement gets the error.
 */
import { DatabaseError } from 'pg';

/** Work items of type T (a planned version and its caller; a type and id to read), each answered with an R. */
export class Coalescer<T, R> {
  private queue: { write: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly execute: (writes: T[]) => Promise<R[]>,
    private readonly maxInFlight: number,
    private readonly maxBatch = 200,
  ) {}

  /** `write`'s answer, from the statement it is sent in (alone, or with whatever queued beside it). */
  write(write: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.flush(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async flush(batch: Coalescer<T, R>['queue']): Promise<void> {
    try {
      const out = await this.execute(batch.map((b) => b.write));
      batch.forEach((b, i) => {
        b.resolve(out[i]);
      });
    } catch (e) {
      if (batch.length === 1 || !isStatementError(e)) {
        for (const b of batch) b.reject(e);
        return;
      }
      await Promise.all(
        batch.map(async (b) => {
          try {
            b.resolve((await this.execute([b.write]))[0]);
          } catch (err) {
            b.reject(err);
          }
        }),
      );
    }
  }
}

/** An error PostgreSQL raised for the statement: the statement, hence its transaction, rolled back. */
function isStatementError(e: unknown): boolean {
  return e instanceof DatabaseError && typeof e.code === 'string' && !e.code.startsWith('08'); // 08xxx: connection exceptions
}
