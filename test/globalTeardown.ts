/** Drops the test databases of this run and stops the embedded PostgreSQL (if this run started one). */
import fs from 'node:fs';
import pg from 'pg';

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env.AROGYA_TEST_ADMIN_URL;
  const template = process.env.AROGYA_TEST_TEMPLATE;
  if (adminUrl && template) {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>(`select datname from pg_database where datname like $1 or datname = $2`, [
        `${template.replace('_template_', '_')}_%`,
        template,
      ]);
      for (const r of rows) await client.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
  const db = globalThis.__AROGYA_TEST_DB__;
  if (db) {
    await db.stop();
    if (db.dir) fs.rmSync(db.dir, { recursive: true, force: true });
  }
}
