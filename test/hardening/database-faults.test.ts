/**
 * Fault tests (issue 10): a slow database (a locked table) and an unreachable one. Requests end at the
 * statement timeout with a 503 + Retry-After OperationOutcome, readiness says not ready, nothing hangs, and
 * everything recovers. The bounds are generous (a busy machine): outcomes are asserted, not timings.
 */
import net from 'node:net';
import pg from 'pg';
import { startServer, tcpDatabaseUrl, type FhirResponse, type TestServer } from '../harness';

type Json = Record<string, any>;

/** Fails the test instead of hanging when `p` takes longer than `ms`. */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function expectUnavailable(res: FhirResponse, code: string): void {
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].code).toBe(code);
  expect(res.text).not.toMatch(/57014|canceling statement|ECONNREFUSED|terminated/i);
}

const readyz = async (server: TestServer): Promise<{ status: number; body: Json }> => {
  const res = await fetch(server.base.replace(/\/fhir$/, '/readyz'));
  return { status: res.status, body: (await res.json()) as Json };
};

/** A session holding an ACCESS EXCLUSIVE lock on the resource table until released. */
async function lockResourceTable(databaseUrl: string): Promise<{ release(): Promise<void> }> {
  const locker = new pg.Client({ connectionString: databaseUrl });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE resource IN ACCESS EXCLUSIVE MODE');
  return {
    async release() {
      await locker.query('COMMIT');
      await locker.end();
    },
  };
}

describe('a locked table', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ statementTimeoutMs: 1500, readyTimeoutMs: 1000, poolTimeoutMs: 5000 });
    await server.request('PUT', '/Patient/locked-1', { body: { resourceType: 'Patient', id: 'locked-1', name: [{ family: 'Locked' }] } });
  });
  afterAll(async () => server.close());

  test('requests end at the statement timeout with 503, readiness says not ready, all recover on release', async () => {
    expect((await readyz(server)).status).toBe(200);
    const lock = await lockResourceTable(server.databaseUrl);
    try {
      expectUnavailable(await within(30_000, server.request('GET', '/Patient/locked-1'), 'read'), 'timeout');
      expectUnavailable(await within(30_000, server.request('GET', '/Patient?name=Locked'), 'search'), 'timeout');
      expectUnavailable(
        await within(30_000, server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: [{ family: 'Blocked' }] } }), 'create'),
        'timeout',
      );
      const ready = await within(30_000, readyz(server), 'readyz');
      expect(ready).toEqual({ status: 503, body: { status: 'database too slow' } });
    } finally {
      await lock.release();
    }
    expect((await server.request('GET', '/Patient/locked-1')).status).toBe(200);
    expect((await server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: [{ family: 'Unblocked' }] } })).status).toBe(201);
    expect((await readyz(server)).status).toBe(200);
    // the create that timed out wrote nothing
    const blocked = await server.request('GET', '/Patient?name=Blocked');
    expect(blocked.body.entry ?? []).toEqual([]);
  });
});

describe('an exhausted pool and a client that goes away', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ statementTimeoutMs: 120_000, poolSize: 2, poolTimeoutMs: 1000, readyTimeoutMs: 1000 });
  });
  afterAll(async () => server.close());

  /** Backends of the app's pool waiting on a lock. */
  const waiting = async (admin: pg.Client): Promise<number> =>
    (
      await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'arogya' AND wait_event_type = 'Lock'`,
      )
    ).rows[0].n;

  test('no free connection → 503 + Retry-After and /readyz not ready; abandoned searches are cancelled in the database', async () => {
    const admin = new pg.Client({ connectionString: server.databaseUrl });
    await admin.connect();
    const lock = await lockResourceTable(server.databaseUrl);
    const abandoned = [new AbortController(), new AbortController()];
    try {
      // two searches hold both connections, stuck behind the lock
      const searches = abandoned.map((c, i) => server.fetch(`${server.base}/Patient?name=gone${i}`, { signal: c.signal }).catch(() => undefined));
      await until('both searches waiting on the lock', 30_000, async () => (await waiting(admin)) === 2);
      expectUnavailable(await within(30_000, server.request('GET', '/Patient?name=third'), 'third search'), 'transient');
      expect(await within(30_000, readyz(server), 'readyz')).toEqual({ status: 503, body: { status: 'no free database connection' } });
      // the clients go away: their statements are cancelled although the lock is still held
      for (const c of abandoned) c.abort();
      await Promise.all(searches);
      await until('abandoned searches cancelled', 30_000, async () => (await waiting(admin)) === 0);
      const stillLocked = await admin.query(
        `SELECT 1 FROM pg_locks WHERE relation = 'resource'::regclass AND mode = 'AccessExclusiveLock' AND granted`,
      );
      expect(stillLocked.rowCount).toBe(1);
    } finally {
      await lock.release();
      await admin.end();
    }
    expect((await server.request('GET', '/Patient?name=after')).status).toBe(200);
    expect((await readyz(server)).status).toBe(200);
  });
});

/** A TCP proxy to PostgreSQL that the test can cut (refusing and dropping connections) and restore. */
class CuttableProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

describe('the database unreachable', () => {
  let server: TestServer;
  let proxy: CuttableProxy;
  beforeAll(async () => {
    // the test databases' PostgreSQL, reached through the proxy
    // (the embedded database is reached through its Unix socket, but listens on TCP loopback at the same port too)
    const admin = new URL(tcpDatabaseUrl(process.env.AROGYA_TEST_ADMIN_URL!));
    proxy = new CuttableProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    await proxy.open();
    server = await startServer(
      { statementTimeoutMs: 5000, poolTimeoutMs: 3000, readyTimeoutMs: 1000 },
      {
        jobs: false,
        poolUrl: (url) => {
          const u = new URL(url);
          u.hostname = '127.0.0.1';
          u.port = String(proxy.port);
          return u.toString();
        },
      },
    );
  });
  afterAll(async () => {
    await server?.close();
    await proxy.cut().catch(() => undefined);
  });

  test('every request is a clean 503 with an OperationOutcome, readiness says not ready, then full recovery', async () => {
    await server.request('PUT', '/Patient/reach-1', { body: { resourceType: 'Patient', id: 'reach-1' } });
    expect((await server.request('GET', '/Patient/reach-1')).status).toBe(200);

    await proxy.cut();
    const requests: [string, string, unknown?][] = [
      ['GET', '/Patient/reach-1'],
      ['GET', '/Patient?name=x'],
      ['POST', '/Patient', { resourceType: 'Patient' }],
      ['PUT', '/Patient/reach-2', { resourceType: 'Patient', id: 'reach-2' }],
      ['DELETE', '/Patient/reach-1'],
      ['GET', '/Patient/reach-1/_history'],
      [
        'POST',
        '',
        {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }],
        },
      ],
    ];
    for (const [method, p, body] of requests) {
      const res = await within(30_000, server.request(method, p, body === undefined ? {} : { body }), `${method} ${p}`);
      expectUnavailable(res, 'transient');
    }
    expect((await within(30_000, readyz(server), 'readyz')).status).toBe(503);
    expect((await fetch(server.base.replace(/\/fhir$/, '/healthz'))).status).toBe(200);

    await proxy.open();
    await until('recovery', 30_000, async () => (await server.request('GET', '/Patient/reach-1')).status === 200);
    expect((await server.request('PUT', '/Patient/reach-2', { body: { resourceType: 'Patient', id: 'reach-2' } })).status).toBe(201);
    expect((await readyz(server)).status).toBe(200);
  });
});
