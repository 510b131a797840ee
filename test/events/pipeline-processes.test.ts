/**
 * The event pipeline across processes and crashes: two server processes on one database (test/events/
 * pipeline-process.ts, compiled), each taking writes; a real HTTP receiver on loopback gets every change event.
 *
 * - every committed change is delivered whichever process took the write, also after the receiver was down;
 * - SIGKILL of a process in the middle of a burst of writes (some transaction Bundles fail and roll back): after it
 *   restarts, every committed version is delivered, and nothing that did not commit ever is.
 */
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../server/database/embedded';
import { createTestDatabase, type Json } from '../harness';
import { ROOT, killIfRunning, procAuth, send, start, waitReady, type Proc } from '../server/processes';

jest.setTimeout(240_000);

const FIXTURE = path.join(ROOT, 'dist', 'test', 'events', 'pipeline-process.js');

interface Node {
  port: number;
  origin: string;
  proc?: Proc;
  token: () => Promise<string | undefined>;
}

let databaseUrl = '';
let receiverUrl = '';
let receiver: http.Server;
let receiverDown = false;
const delivered = new Map<string, number>();
const pids = new Set<number>();
const nodes: Node[] = [];

function keyOf(e: Json): string {
  return `${e.resourceType}/${e.id}/_history/${e.versionId}`;
}

async function startNode(node: Node): Promise<void> {
  node.proc = start(
    [],
    {
      DATABASE_URL: databaseUrl,
      PORT: String(node.port),
      HOST: '127.0.0.1',
      AROGYA_BASE_URL: `${node.origin}/fhir`,
      AROGYA_EVENT_POLL_MS: '100',
      AROGYA_EVENT_RETRY_DELAY_SECONDS: '1',
      AROGYA_EVENT_RETRY_LIMIT: '30',
      AROGYA_EVENT_EXPIRE_SECONDS: '4',
      AROGYA_POOL_SIZE: '6',
      LOG_LEVEL: 'warn',
      TEST_RECEIVER_URL: receiverUrl,
    },
    { main: FIXTURE },
  );
  await waitReady(node.port, node.proc);
}

/** Every version stored in the database, as `Type/id/_history/n`. */
async function storedVersions(): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ k: string }>(
      `SELECT resource_type || '/' || id || '/_history/' || version_id AS k FROM resource_history WHERE version_id > 0`,
    );
    return new Set(rows.map((r) => r.k));
  } finally {
    await client.end();
  }
}

async function untilAllDelivered(timeoutMs = 150_000): Promise<Set<string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stored = await storedVersions();
    const missing = [...stored].filter((k) => !delivered.has(k));
    if (missing.length === 0) return stored;
    if (Date.now() > deadline) throw new Error(`${missing.length} committed versions never delivered, e.g. ${missing.slice(0, 3).join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (receiverDown) {
        res.writeHead(503).end();
        return;
      }
      const e = JSON.parse(body) as Json;
      delivered.set(keyOf(e), (delivered.get(keyOf(e)) ?? 0) + 1);
      pids.add(e.pid);
      // a little slow, so that deliveries are in flight when a process is killed
      setTimeout(() => res.writeHead(204).end(), 20);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/events`;
  databaseUrl = await createTestDatabase();
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    nodes.push({ port, origin, token: procAuth(origin).token });
  }
  // one after the other: both run pg-boss, whose first start creates its schema
  for (const n of nodes) await startNode(n);
});
afterAll(async () => {
  for (const n of nodes) await killIfRunning(n.proc);
  await new Promise((r) => receiver?.close(r));
});

const patient = (i: number) => JSON.stringify({ resourceType: 'Patient', gender: i % 2 ? 'female' : 'male', birthDate: '1990-01-01' });

test('changes written on either process are all delivered, also after the receiver was down for a while', async () => {
  receiverDown = true;
  const results = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const n = nodes[i % 2];
      return send(`${n.origin}/fhir/Patient`, 'POST', patient(i), await n.token());
    }),
  );
  expect(results.map((r) => r.status)).toEqual(Array(30).fill(201));
  await new Promise((r) => setTimeout(r, 2500)); // a few failed attempts each
  receiverDown = false;
  const stored = await untilAllDelivered();
  expect(stored.size).toBe(30);
  expect([...delivered.keys()].every((k) => stored.has(k))).toBe(true);
});

test('SIGKILL during a burst: after restart every committed change is delivered, nothing uncommitted ever is', async () => {
  const [a, b] = nodes;
  const tokens = [await a.token(), await b.token()];
  let killed = false;
  let sent = 0;
  const acknowledged: string[] = [];
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; i < 25; i++) {
      const n = (w + i) % 2;
      if (n === 0 && killed) continue;
      sent++;
      if (i % 5 === 4) {
        // a transaction Bundle; every other one fails on its second entry and rolls back entirely
        const bad = i % 10 === 9;
        const bundle = {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: JSON.parse(patient(i)), request: { method: 'POST', url: 'Patient' } },
            {
              resource: { resourceType: 'Basic', code: { text: bad ? 'x' : 'ok' }, ...(bad ? { unknownElement: 1 } : {}) },
              request: { method: 'POST', url: 'Basic' },
            },
          ],
        };
        const r = await send(`${nodes[n].origin}/fhir`, 'POST', JSON.stringify(bundle), tokens[n]);
        if (r.status === 200)
          for (const e of (JSON.parse(r.body) as Json).entry) acknowledged.push(`${e.response.location.split('/_history')[0]}/_history/1`);
      } else {
        const r = await send(`${nodes[n].origin}/fhir/Patient`, 'POST', patient(i), tokens[n]);
        if (r.status === 201) {
          const body = JSON.parse(r.body) as Json;
          acknowledged.push(`Patient/${body.id}/_history/1`);
          const u = await send(`${nodes[n].origin}/fhir/Patient/${body.id}`, 'PUT', JSON.stringify({ ...body, gender: 'other' }), tokens[n]);
          if (u.status === 200) acknowledged.push(`Patient/${body.id}/_history/2`);
        }
      }
      if (sent === 40 && !killed) {
        killed = true;
        a.proc!.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map(writer));
  expect(killed).toBe(true);
  await a.proc!.exited;
  await startNode(a);
  const stored = await untilAllDelivered();
  // every acknowledged write committed and was delivered; every delivery names a committed version
  expect(acknowledged.filter((k) => !stored.has(k))).toEqual([]);
  expect([...delivered.keys()].filter((k) => !stored.has(k))).toEqual([]);
  // the failed bundles' Basics never existed, so none was delivered
  const basics = [...delivered.keys()].filter((k) => k.startsWith('Basic/'));
  expect(basics.length).toBe([...stored].filter((k) => k.startsWith('Basic/')).length);
});
