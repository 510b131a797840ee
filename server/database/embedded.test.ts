import { embeddedSocketDir, embeddedUrl } from './embedded';
import pg from 'pg';

/** What node-postgres makes of a connection URL (the same parser the server's pools use). */
function parse(url: string): { host: string; port: number; user: string; password: string; database: string } {
  const c = new pg.Client({ connectionString: url }) as unknown as { host: string; port: number; user: string; password: string; database: string };
  return { host: c.host, port: c.port, user: c.user, password: c.password, database: c.database };
}

test('the embedded database is reached through a Unix-domain socket in its data directory when the path fits', () => {
  expect(embeddedSocketDir('/tmp/arogya-test-x/pg', 54321)).toBe('/tmp/arogya-test-x/pg');
  const url = embeddedUrl('p@ss/w:rd', 54321, '/tmp/arogya-test-x/pg');
  expect(parse(url)).toMatchObject({ host: '/tmp/arogya-test-x/pg', port: 54321, user: 'postgres', password: 'p@ss/w:rd', database: 'postgres' });
  // the test harness renames the database by rewriting the URL's path: the socket survives it
  const renamed = new URL(url);
  renamed.pathname = '/other';
  expect(parse(renamed.toString())).toMatchObject({ host: '/tmp/arogya-test-x/pg', database: 'other' });
});

test('a socket path longer than a socket address holds (107 bytes) falls back to TCP on loopback', () => {
  const long = `/srv/${'d'.repeat(100)}/pg`;
  expect(embeddedSocketDir(long, 54321)).toBeUndefined();
  const edge = `/${'e'.repeat(107 - '/.s.PGSQL.54321'.length - 1)}`;
  expect(Buffer.byteLength(`${edge}/.s.PGSQL.54321`)).toBe(107);
  expect(embeddedSocketDir(edge, 54321)).toBe(edge);
  expect(embeddedSocketDir(`${edge}x`, 54321)).toBeUndefined();
  expect(parse(embeddedUrl('pw', 54321, undefined))).toMatchObject({ host: '127.0.0.1', port: 54321 });
});
