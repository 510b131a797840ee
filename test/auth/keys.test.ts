/**
 * Signing-key rotation without downtime (issue 11 point 6): the next key is published before it signs, tokens
 * signed by the previous key keep verifying while it is published, and every worker (here: a second SigningKeys
 * on the same database, as another process would be) agrees on the key. Ages are set in the table, not waited for.
 */
import { decodeProtectedHeader } from 'jose';
import { SigningKeys } from '../../server/auth/keys';
import { TokenService } from '../../server/auth/tokens';
import { createPool, type Pool } from '../../server/database/pool';
import { createTestDatabase } from '../harness';

const ROTATION = 3600;
const LEAD = 300; // min(300, rotation / 4)

describe('signing keys', () => {
  let pool: Pool;
  beforeAll(async () => {
    pool = createPool(await createTestDatabase(), 4);
  });
  afterAll(async () => pool.end());

  const worker = () => {
    const keys = new SigningKeys(pool, { rotationSeconds: ROTATION, maxTokenSeconds: 3600 });
    const tokens = new TokenService(pool, keys, {
      issuer: 'http://x/auth',
      audience: 'http://x/fhir',
      accessTokenTtlSeconds: 300,
      revocationSyncMs: 0,
    });
    return { keys, tokens };
  };
  const age = (kid: string, seconds: number) =>
    pool.query('UPDATE auth_signing_key SET created_at = now() - make_interval(secs => $2) WHERE kid = $1', [kid, seconds]);
  const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid!;

  test('the next key is published before it signs, and the old one verifies until its tokens expire', async () => {
    const a = worker();
    const first = await a.tokens.issueAccessToken({ clientId: 'c', sub: 'c', scope: 'system/*.rs' });
    const k1 = kidOf(first.access_token);
    expect((await a.keys.jwks()).keys.map((k) => k.kid)).toEqual([k1]);

    // k1 is near the end of its signing period: a worker makes k2 and publishes it, but still signs with k1
    await age(k1, ROTATION - LEAD + 1);
    const b = worker();
    const second = await b.tokens.issueAccessToken({ clientId: 'c', sub: 'c', scope: 'system/*.rs' });
    expect(kidOf(second.access_token)).toBe(k1);
    const published = (await b.keys.jwks()).keys.map((k) => k.kid);
    expect(published).toHaveLength(2);
    const k2 = published.find((k) => k !== k1)!;

    // once k2 has been published for the lead time it signs; k1's tokens still verify on every worker
    await age(k1, ROTATION + 1);
    await age(k2, LEAD + 1);
    const c = worker();
    const third = await c.tokens.issueAccessToken({ clientId: 'c', sub: 'c', scope: 'system/*.rs' });
    expect(kidOf(third.access_token)).toBe(k2);
    expect((await c.tokens.verifyAccessToken(first.access_token)).jti).toBe(first.jti);
    expect((await a.tokens.verifyAccessToken(third.access_token)).jti).toBe(third.jti);
    expect((await c.keys.jwks()).keys.map((k) => k.kid).sort()).toEqual([k1, k2].sort());

    // a key past its expiry is no longer published, and what it signed no longer verifies
    await pool.query("UPDATE auth_signing_key SET expires_at = now() - interval '1 second' WHERE kid = $1", [k1]);
    const d = worker();
    expect((await d.keys.jwks()).keys.map((k) => k.kid)).toEqual([k2]);
    await expect(d.tokens.verifyAccessToken(first.access_token)).rejects.toThrow(/not signed by this server/);
  });

  test('two workers rotating at once make one key', async () => {
    await pool.query('DELETE FROM auth_signing_key');
    const [x, y] = [worker(), worker()];
    const [tx, ty] = await Promise.all([
      x.tokens.issueAccessToken({ clientId: 'c', sub: 'c', scope: 'system/*.rs' }),
      y.tokens.issueAccessToken({ clientId: 'c', sub: 'c', scope: 'system/*.rs' }),
    ]);
    expect(kidOf(tx.access_token)).toBe(kidOf(ty.access_token));
    expect((await pool.query('SELECT count(*)::int AS n FROM auth_signing_key')).rows[0].n).toBe(1);
  });
});
