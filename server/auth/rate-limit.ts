/**
 * Sign-in brute-force protection (issue 11 point 2): failed sign-ins are counted per username and per client
 * address in fixed windows in PostgreSQL (auth_rate), so every worker process sees the same counts. Once either
 * count reaches its limit, sign-in for that username or from that address is refused — before the password is
 * checked — until the window ends. A successful sign-in clears the username's count.
 */
import type { Db } from '../database/pool';

export interface SignInLimits {
  /** Failed sign-ins per username per window. */
  perUser: number;
  /** Failed sign-ins per client address per window. */
  perAddress: number;
  windowSeconds: number;
}

const userKey = (username: string): string => `signin:user:${username.toLowerCase()}`;
const addressKey = (address: string): string => `signin:addr:${address}`;

export class SignInLimiter {
  constructor(
    private readonly db: Db,
    private readonly limits: SignInLimits,
  ) {}

  /** Seconds until sign-in may be tried again for this username or from this address; 0 when it may now. */
  async retryAfter(username: string, address: string): Promise<number> {
    const { rows } = await this.db.query<{ key: string; count: number; wait: number }>(
      `SELECT key, count, ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now()))::int AS wait
         FROM auth_rate WHERE key = ANY($1::text[]) AND window_start > now() - make_interval(secs => $2)`,
      [[userKey(username), addressKey(address)], this.limits.windowSeconds],
    );
    let wait = 0;
    for (const r of rows) {
      const limit = r.key.startsWith('signin:user:') ? this.limits.perUser : this.limits.perAddress;
      if (r.count >= limit) wait = Math.max(wait, r.wait, 1);
    }
    return wait;
  }

  /** Counts a failed sign-in against the username and the address. */
  async failed(username: string, address: string): Promise<void> {
    // windows long past are forgotten as new failures come, so the table holds only recent attempts
    await this.db.query(`DELETE FROM auth_rate WHERE key LIKE 'signin:%' AND window_start < now() - make_interval(secs => $1 * 2)`, [
      this.limits.windowSeconds,
    ]);
    await this.db.query(
      `INSERT INTO auth_rate (key, window_start, count) SELECT k, now(), 1 FROM unnest($1::text[]) AS k
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN auth_rate.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE auth_rate.count + 1 END,
         window_start = CASE WHEN auth_rate.window_start <= now() - make_interval(secs => $2) THEN now() ELSE auth_rate.window_start END`,
      [[userKey(username), addressKey(address)], this.limits.windowSeconds],
    );
  }

  /** A successful sign-in: the username's failures are forgotten (the address's stay counted). */
  async succeeded(username: string): Promise<void> {
    await this.db.query('DELETE FROM auth_rate WHERE key = $1', [userKey(username)]);
  }
}
