/**
 * Jest global setup: one real PostgreSQL for the whole run — the embedded one (default), or TEST_DATABASE_URL.
 * A template database is migrated once; each test file clones it (CREATE DATABASE … TEMPLATE) in milliseconds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedDatabase } from '../server/database/embedded';
import { migrateLatest } from '../server/database/migrate';
import { r4Model } from '../server/fhir/definitions';

declare global {
  var __AROGYA_TEST_DB__: { stop(): Promise<void>; dir?: string } | undefined;
}

export default async function globalSetup(): Promise<void> {
  r4Model(); // build the definitions cache once, before parallel workers start
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-test-'));
    const db = await startEmbeddedDatabase(dir, (m) => console.error(m));
    adminUrl = db.url;
    globalThis.__AROGYA_TEST_DB__ = { stop: db.stop, dir };
  }
  const template = `arogya_test_template_${process.pid}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${template}`);
    await client.query(`CREATE DATABASE ${template}`);
  } finally {
    await client.end();
  }
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${template}`;
  await migrateLatest(templateUrl.toString());
  process.env.AROGYA_TEST_ADMIN_URL = adminUrl;
  process.env.AROGYA_TEST_TEMPLATE = template;
}
