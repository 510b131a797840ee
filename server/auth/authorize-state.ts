/**
 * A browser's authorization request between the pages (sign-in → patient picker → consent), in PostgreSQL
 * (auth_request) so that each page may be answered by any worker process. The request is named by a random id
 * the pages carry in a hidden field (stored only as its hash); each request has its own CSRF token, which the
 * forms carry and a cookie of that request repeats (bound to the browser that started it).
 */
import type { Db } from '../database/pool';
import { jsonColumn, opaqueToken, secretHash } from './opaque';

/** OpenID Connect Core §3.1.2.1 `prompt` values. */
export type Prompt = 'none' | 'login' | 'consent' | 'select_account';

/** A validated authorization request (authorize-params.ts): what the pages and the code need. */
export interface AuthorizeParams {
  clientId: string;
  clientName: string;
  redirectUri: string;
  /** The scope to be granted: as requested, within the client's cap. */
  scope: string;
  state: string;
  codeChallenge: string;
  nonce?: string;
  /** OpenID Connect `prompt` values asked for (`none`, `login`, `consent`, `select_account`). */
  prompt?: Prompt[];
  /** OpenID Connect `max_age`: the longest ago (seconds) the user may have signed in for the sign-in to count. */
  maxAge?: number;
  /** Launch context from an EHR launch (`launch=`), already consumed. */
  launch?: { patient?: string; encounter?: string };
  /** When the user signed in (seconds since the epoch). */
  authTime?: number;
  /** Upstream OpenID sign-in in progress: its state, nonce and PKCE verifier (oidc.ts). */
  upstream?: { state: string; nonce: string; codeVerifier: string };
}

export interface PendingRequest {
  /** The secret id the page forms carry. */
  id: string;
  /** Its hash: the row's key. */
  key: string;
  params: AuthorizeParams;
  userId?: string;
  patient?: string;
  csrf: string;
}

/** How long a person has to get through the pages. */
export const REQUEST_TTL_SECONDS = 15 * 60;

interface Row {
  params: AuthorizeParams;
  user_id: string | null;
  patient: string | null;
  csrf: string;
}

function toPending(id: string, key: string, r: Row): PendingRequest {
  return {
    id,
    key,
    params: jsonColumn<AuthorizeParams>(r.params),
    csrf: r.csrf,
    ...(r.user_id ? { userId: r.user_id } : {}),
    ...(r.patient ? { patient: r.patient } : {}),
  };
}

export class AuthRequestStore {
  constructor(private readonly db: Db) {}

  async create(params: AuthorizeParams): Promise<PendingRequest> {
    const id = opaqueToken();
    const csrf = opaqueToken();
    // expired requests go as new ones come (the table stays as small as the requests in progress)
    await this.db.query('DELETE FROM auth_request WHERE expires_at < now()');
    await this.db.query(`INSERT INTO auth_request (id_hash, params, csrf, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))`, [
      secretHash(id),
      params,
      csrf,
      REQUEST_TTL_SECONDS,
    ]);
    return { id, key: secretHash(id), params, csrf };
  }

  /** The request in progress with this id; undefined when unknown, finished or expired. */
  async find(id: string): Promise<PendingRequest | undefined> {
    const key = secretHash(id);
    const { rows } = await this.db.query<Row>('SELECT params, user_id, patient, csrf FROM auth_request WHERE id_hash = $1 AND expires_at > now()', [
      key,
    ]);
    return rows[0] ? toPending(id, key, rows[0]) : undefined;
  }

  /**
   * The request whose upstream sign-in has this state (the upstream callback carries only that), under a new id:
   * the old one never left this server, and the pages that follow need one to carry.
   */
  async takeByUpstreamState(state: string): Promise<PendingRequest | undefined> {
    const id = opaqueToken();
    const key = secretHash(id);
    const { rows } = await this.db.query<Row>(
      `UPDATE auth_request SET id_hash = $2 WHERE params->'upstream'->>'state' = $1 AND expires_at > now() RETURNING params, user_id, patient, csrf`,
      [state, key],
    );
    return rows[0] ? toPending(id, key, rows[0]) : undefined;
  }

  async update(req: PendingRequest, change: { userId?: string; patient?: string; params?: AuthorizeParams }): Promise<PendingRequest> {
    const next: PendingRequest = { ...req, ...change };
    await this.db.query('UPDATE auth_request SET params = $2, user_id = $3, patient = $4 WHERE id_hash = $1', [
      req.key,
      next.params,
      next.userId ?? null,
      next.patient ?? null,
    ]);
    return next;
  }

  /** Ends the request; true only for the one caller that ended it (two submissions never issue two codes). */
  async finish(req: PendingRequest): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM auth_request WHERE id_hash = $1', [req.key]);
    return rowCount === 1;
  }
}
