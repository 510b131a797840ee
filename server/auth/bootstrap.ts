/**
 * The bootstrap admin client (DESIGN.md §1): a confidential client (client_secret_basic, client_credentials,
 * `system/*.*`) that can also register clients and users. Taken from AROGYA_ADMIN_CLIENT_ID/SECRET when set;
 * otherwise generated at first start, stored under the data dir (mode 0600) and printed once.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import type { Pool } from '../database/pool';
import { secretHash } from './opaque';

export const ADMIN_SCOPE = 'system/*.cruds';
const GENERATED_FILE = 'admin-client.json';

async function upsert(db: Pool, id: string, secret: string): Promise<void> {
  await db.query(
    `INSERT INTO auth_client (client_id, client_name, secret_hash, auth_method, grant_types, scope, admin)
     VALUES ($1, 'Arogya admin (bootstrap)', $2, 'client_secret_basic', '{client_credentials}', $3, true)
     ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, auth_method = EXCLUDED.auth_method,
       grant_types = EXCLUDED.grant_types, scope = EXCLUDED.scope, admin = true`,
    [id, secretHash(secret), ADMIN_SCOPE],
  );
}

/**
 * Makes sure the admin client exists. Returns its credentials when they were generated just now (the caller
 * prints them once), undefined otherwise.
 */
export async function bootstrapAdminClient(db: Pool, config: Config): Promise<{ clientId: string; clientSecret: string; file: string } | undefined> {
  if (config.adminClientId && config.adminClientSecret) {
    await upsert(db, config.adminClientId, config.adminClientSecret);
    return undefined;
  }
  const file = path.join(config.dataDir, GENERATED_FILE);
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { client_id: string; client_secret: string };
    await upsert(db, saved.client_id, saved.client_secret);
    return undefined;
  }
  const clientId = 'arogya-admin';
  const clientSecret = crypto.randomBytes(32).toString('base64url');
  fs.mkdirSync(config.dataDir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify({ client_id: clientId, client_secret: clientSecret }, null, 2)}\n`, { mode: 0o600 });
  await upsert(db, clientId, clientSecret);
  return { clientId, clientSecret, file };
}
