/**
 * The embedded database (the suite's own, test/globalSetup.ts, unless TEST_DATABASE_URL points elsewhere) is
 * reached through its Unix-domain socket: the server's connections have no client address.
 */
import pg from 'pg';

const embedded = !process.env.TEST_DATABASE_URL;
if (!embedded) console.warn('skipping test/server/embedded-socket.test.ts: TEST_DATABASE_URL is set (not the embedded database)');

(embedded ? test : test.skip)('connections to the embedded database go through its Unix-domain socket', async () => {
  const url = process.env.AROGYA_TEST_ADMIN_URL!;
  const host = (new pg.Client({ connectionString: url }) as unknown as { host: string }).host;
  expect(host).toMatch(/^\//);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ addr: string | null; dir: string }>(
      `SELECT client_addr::text AS addr, current_setting('unix_socket_directories') AS dir FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
    );
    expect(rows[0].addr).toBeNull(); // a Unix-domain socket: no client address
    expect(rows[0].dir).toBe(host);
  } finally {
    await client.end();
  }
});
