/**
 * The authorization server's signing keys, in PostgreSQL so that every worker signs and verifies with the same
 * keys and a restart keeps them. Rotation without downtime: a new key is published in the JWKS `lead` seconds
 * before it starts signing (so verifiers that cache the JWKS already have it), signs for `rotation` seconds, and
 * stays published until every token it signed has expired.
 */
import crypto from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Pool } from '../database/pool';
import { jsonColumn } from './opaque';

export const SIGNING_ALG = 'RS256';

interface KeyRow {
  kid: string;
  private_jwk: JWK;
  public_jwk: JWK;
  /** ms since the epoch */
  created_ms: number;
  expires_ms: number;
}

interface LoadedKey {
  kid: string;
  createdAt: number;
  expiresAt: number;
  publicJwk: JWK;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

export interface KeyTimes {
  /** Seconds a key signs. */
  rotationSeconds: number;
  /** Longest lifetime of anything signed (access and id tokens), seconds. */
  maxTokenSeconds: number;
}

const SELECT_KEYS = `SELECT kid, private_jwk, public_jwk, (extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
         (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms
    FROM auth_signing_key WHERE expires_at > now()`;

/** How often a worker looks for keys another worker made (ms). */
const RELOAD_MS = 30_000;

export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private loadedAt = 0;
  private loading?: Promise<void>;
  private readonly unknown = new Set<string>();

  constructor(
    private readonly db: Pool,
    private readonly times: KeyTimes,
  ) {}

  /** Seconds before a new key signs during which it is already published. */
  private get lead(): number {
    return Math.min(300, Math.floor(this.times.rotationSeconds / 4));
  }

  /** The key to sign with now (making the first one, or the next one in time, when needed). */
  async signing(): Promise<{ kid: string; key: CryptoKey }> {
    await this.fresh();
    const now = Date.now();
    let chosen = this.pick(now);
    const newest = [...this.keys.values()].sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!newest || now - newest.createdAt >= (this.times.rotationSeconds - this.lead) * 1000) {
      await this.rotate();
      chosen = this.pick(Date.now());
    }
    if (!chosen) throw new Error('no signing key');
    return { kid: chosen.kid, key: chosen.privateKey };
  }

  /** The public key of `kid` (looking up a key another worker made), or undefined when unknown or expired. */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    await this.fresh();
    let k = this.keys.get(kid);
    if (!k && !this.unknown.has(kid)) {
      // one primary-key lookup; kids found nowhere are remembered a while, so forged kids cost no more queries
      const { rows } = await this.db.query<KeyRow>(`${SELECT_KEYS} AND kid = $1`, [kid]);
      if (rows[0]) {
        k = await load(rows[0]);
        this.keys.set(kid, k);
      } else {
        if (this.unknown.size >= 1000) this.unknown.clear();
        this.unknown.add(kid);
        setTimeout(() => this.unknown.delete(kid), 10_000).unref();
      }
    }
    return k && k.expiresAt > Date.now() ? k.publicKey : undefined;
  }

  /** The JWKS document: every published key (use sig). */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    if (this.keys.size === 0) await this.signing();
    const now = Date.now();
    return { keys: [...this.keys.values()].filter((k) => k.expiresAt > now).map((k) => k.publicJwk) };
  }

  /** The signing key: the newest key that has been published for `lead` seconds, else (first start) the newest. */
  private pick(now: number): LoadedKey | undefined {
    const live = [...this.keys.values()].filter((k) => k.expiresAt > now).sort((a, b) => b.createdAt - a.createdAt);
    return live.find((k) => now - k.createdAt >= this.lead * 1000) ?? live[live.length - 1];
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt > RELOAD_MS) await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const { rows } = await this.db.query<KeyRow>(SELECT_KEYS);
        const next = new Map<string, LoadedKey>();
        for (const r of rows) next.set(r.kid, this.keys.get(r.kid) ?? (await load(r)));
        this.keys = next;
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** Makes the next key unless another worker just did (one transaction-scoped advisory lock serialises them). */
  private async rotate(): Promise<void> {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('arogya.auth_signing_key'))");
      const { rows } = await client.query<{ age: number }>(
        'SELECT extract(epoch FROM now() - max(created_at))::float8 AS age FROM auth_signing_key WHERE expires_at > now()',
      );
      const age = rows[0]?.age;
      if (age === null || age === undefined || age >= this.times.rotationSeconds - this.lead) {
        const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { modulusLength: 2048, extractable: true });
        const kid = crypto.randomUUID();
        const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' };
        const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
        // published for lead, signs for rotation, then verifies what it signed until that has expired
        const lifetime = this.lead + this.times.rotationSeconds + this.times.maxTokenSeconds + 60;
        await client.query(
          `INSERT INTO auth_signing_key (kid, alg, private_jwk, public_jwk, expires_at)
           VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
          [kid, SIGNING_ALG, privateJwk, publicJwk, lifetime],
        );
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
    await this.reload();
  }
}

async function load(row: KeyRow): Promise<LoadedKey> {
  const r = { ...row, public_jwk: jsonColumn<JWK>(row.public_jwk), private_jwk: jsonColumn<JWK>(row.private_jwk) };
  return {
    kid: r.kid,
    createdAt: r.created_ms,
    expiresAt: r.expires_ms,
    publicJwk: r.public_jwk,
    publicKey: (await importJWK(r.public_jwk, SIGNING_ALG)) as CryptoKey,
    privateKey: (await importJWK(r.private_jwk, SIGNING_ALG)) as CryptoKey,
  };
}
