/**
 * EHR launch (SMART App Launch 2.2 "EHR launch"; DESIGN.md §1.1): the EHR — a signed-in user's app or an admin
 * client — records a launch context with `POST /auth/launch` `{ patient, encounter?, client_id? }` and passes the
 * opaque `launch` it gets to the app, which hands it to `/auth/authorize?launch=…`. A launch is single-use, lives
 * 5 minutes and, with `client_id`, belongs to that one app; it is stored only as its hash, in PostgreSQL (any
 * worker may take either request).
 */
import type { Db } from '../database/pool';
import { jsonColumn, opaqueToken, secretHash } from './opaque';

export const LAUNCH_TTL_SECONDS = 5 * 60;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export interface LaunchContext {
  patient?: string;
  encounter?: string;
}

export class LaunchInputError extends Error {}

/** The JSON body of `POST /auth/launch`, checked. */
export function parseLaunchBody(body: unknown): LaunchContext & { clientId?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new LaunchInputError('the body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!['patient', 'encounter', 'client_id'].includes(key)) throw new LaunchInputError(`unknown member '${key}' (patient, encounter, client_id)`);
  }
  if (typeof b.patient !== 'string' || !FHIR_ID.test(b.patient)) throw new LaunchInputError('patient: a Patient id is required');
  if (b.encounter !== undefined && (typeof b.encounter !== 'string' || !FHIR_ID.test(b.encounter)))
    throw new LaunchInputError('encounter: an Encounter id');
  if (b.client_id !== undefined && (typeof b.client_id !== 'string' || !b.client_id)) throw new LaunchInputError('client_id: a client id');
  return {
    patient: b.patient,
    ...(b.encounter ? { encounter: b.encounter as string } : {}),
    ...(b.client_id ? { clientId: b.client_id as string } : {}),
  };
}

export class LaunchStore {
  constructor(private readonly db: Db) {}

  /** Records a launch context; returns the opaque `launch` value. */
  async create(context: LaunchContext, opts: { clientId?: string; createdBy: string }): Promise<string> {
    const launch = opaqueToken();
    await this.db.query('DELETE FROM auth_launch WHERE expires_at < now()');
    await this.db.query(
      `INSERT INTO auth_launch (launch_hash, client_id, context, created_by, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
      [secretHash(launch), opts.clientId ?? null, context, opts.createdBy, LAUNCH_TTL_SECONDS],
    );
    return launch;
  }

  /**
   * The context of a launch, used up by this call; undefined when it is unknown, used, expired or bound to
   * another client (a foreign client does not use it up).
   */
  async take(launch: string, clientId: string): Promise<LaunchContext | undefined> {
    const { rows } = await this.db.query<{ context: LaunchContext }>(
      `UPDATE auth_launch SET used_at = now()
        WHERE launch_hash = $1 AND used_at IS NULL AND expires_at > now() AND (client_id IS NULL OR client_id = $2)
        RETURNING context`,
      [secretHash(launch), clientId],
    );
    return rows[0] ? jsonColumn<LaunchContext>(rows[0].context) : undefined;
  }
}
