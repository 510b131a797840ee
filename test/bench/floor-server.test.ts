/**
 * The bench's floor server (floor-server.ts) does the work it stands for: a read answers what the server's read
 * answers (same body, ETag, Last-Modified, from the same row), a create stores the body in one row. Real PostgreSQL,
 * the compiled floor server in its own process with two cluster workers, as `npm run bench` runs it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { useServer } from '../harness';
import { bodyWithNhid } from './payload';
import { startServer, type BenchServer } from './server';

const server = useServer();
let floor: BenchServer;
let logDir: string;

beforeAll(async () => {
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-floor-'));
  floor = await startServer({
    databaseUrl: server.databaseUrl,
    workers: 2,
    logFile: path.join(logDir, 'floor.log'),
    entry: ['test/bench/floor-server.js'],
  });
});

afterAll(async () => {
  await floor?.stop();
  fs.rmSync(logDir, { recursive: true, force: true });
});

describe('the floor server', () => {
  it('answers a read as the server does: the same body and validators', async () => {
    const created = await server.request('POST', '/Patient', { body: JSON.parse(bodyWithNhid(31_415_926)) });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const read = await server.request('GET', `/Patient/${id}`);
    expect(read.status).toBe(200);

    const res = await fetch(`${floor.base}/Patient/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    expect(res.headers.get('etag')).toBe(read.headers.get('etag'));
    expect(res.headers.get('last-modified')).toBe(read.headers.get('last-modified'));
    expect(await res.json()).toEqual(read.body);
  });

  it('answers 404 for an id it does not hold, and for a path it does not serve', async () => {
    expect((await fetch(`${floor.base}/Patient/no-such-patient`)).status).toBe(404);
    expect((await fetch(`${floor.base}/Observation/x`)).status).toBe(404);
  });

  it('stores a created body in one row and answers 201 with its location', async () => {
    const body = bodyWithNhid(27_182_818);
    const res = await fetch(`${floor.base}/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body });
    expect(res.status).toBe(201);
    expect(await res.text()).toBe(body);
    const id = /\/Patient\/([0-9a-f-]{36})\/_history\/1$/.exec(res.headers.get('location') ?? '')?.[1];
    expect(id).toBeDefined();
    const client = new pg.Client({ connectionString: server.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; content: unknown }>('SELECT id, content FROM bench_floor');
      expect(rows).toEqual([{ id, content: JSON.parse(body) }]);
    } finally {
      await client.end();
    }
  });
});
