/**
 * Drops the test databases of this run and stops the embedded PostgreSQL (if this run started one).
 *
 * On the embedded database nothing is dropped: the whole cluster's folder is removed. Each DROP DATABASE waits for a
 * checkpoint of its own, and on a machine kept busy by other processes the ~140 drops of a run took over 10 minutes
 * (2026-12-05, two busy loops on 2 cores). On an external PostgreSQL (TEST_DATABASE_URL) they are dropped from
 * several connections at once, so that drops waiting at the same time share their checkpoints.
 */
import fs from 'node:fs';
import pg from 'pg';

const DROP_CONNECTIONS = 8;

async function dropTestDatabases(adminUrl: string, template: string): Promise<void> {
  const lookup = new pg.Client({ connectionString: adminUrl });
  await lookup.connect();
  let names: string[];
  try {
    const { rows } = await lookup.query<{ datname: string }>(`select datname from pg_database where datname like $1 or datname = $2`, [
      `${template.replace('_template_', '_')}_%`,
      template,
    ]);
    names = rows.map((r) => r.datname);
  } finally {
    await lookup.end();
  }
  // the template last: the databases made from it go first
  const todo = [...names.filter((n) => n !== template)];
  const dropper = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      for (let name = todo.shift(); name !== undefined; name = todo.shift()) {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }
    } finally {
      await client.end();
    }
  };
  await Promise.all(Array.from({ length: Math.min(DROP_CONNECTIONS, Math.max(1, todo.length)) }, dropper));
  if (names.includes(template)) {
    todo.push(template);
    await dropper();
  }
}

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env.AROGYA_TEST_ADMIN_URL;
  const template = process.env.AROGYA_TEST_TEMPLATE;
  const db = globalThis.__AROGYA_TEST_DB__;
  if (db) {
    await db.stop();
    if (db.dir) fs.rmSync(db.dir, { recursive: true, force: true });
  } else if (adminUrl && template) {
    await dropTestDatabases(adminUrl, template);
  }
}
