/**
 * The write engine's commit point (server/repository/write-engine.ts): every write path hands each version it
 * writes to the afterWrite hooks exactly once, inside the writing transaction, with the caller who wrote it.
 *
 * The hook registered here logs into a table with the writing transaction's connection, so a log row exists only
 * for what committed; each path is then checked against resource_history: the versions it added and the versions
 * logged must be the same, one log row each, with the caller of the request (its X-Request-Id) or the system.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Importer } from '../../server/cli/import';
import { SYSTEM_CALLER } from '../../server/repository/caller';
import { Repository } from '../../server/repository/repository';
import { TransactionProcessor } from '../../server/repository/transaction';
import type { AfterWriteHook } from '../../server/repository/write-engine';
import { TEST_AUTH, startServer, type TestServer } from '../harness';
import { kickOff, waitForJob } from '../bulk/helpers';

type Json = Record<string, any>;

const logVersions: AfterWriteHook = async (client, caller, versions) => {
  await client.query(
    `INSERT INTO test_commit_log (actor, request_id, resource_type, id, version_id)
     SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::int[])`,
    [caller.actor.kind, caller.requestId ?? null, versions.map((v) => v.resourceType), versions.map((v) => v.id), versions.map((v) => v.versionId)],
  );
};

let server: TestServer;
let dataDir: string;
let requestNo = 0;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-commit-'));
  server = await startServer({ dataDir, importAllow: [`${pathToFileURL(dataDir).href}/`] }, { afterWrite: [logVersions] });
  await server.pool.query(
    'CREATE TABLE test_commit_log (seq bigserial PRIMARY KEY, actor text, request_id text, resource_type text, id text, version_id int)',
  );
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A request with its own X-Request-Id (the caller's request id). */
async function send(
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; requestId: string }> {
  const requestId = `commit-test-${++requestNo}`;
  const res = await server.request(method, p, { body, headers: { 'x-request-id': requestId, ...headers } });
  expect(res.headers.get('x-request-id')).toBe(requestId);
  return { status: res.status, body: res.body as Json, requestId };
}

type Key = string;
const keysOf = (rows: { resource_type: string; id: string; version_id: number }[]): Key[] =>
  rows.map((r) => `${r.resource_type}/${r.id}/${r.version_id}`).sort();

async function history(): Promise<Set<Key>> {
  const { rows } = await server.pool.query('SELECT resource_type, id, version_id FROM resource_history');
  return new Set(keysOf(rows));
}

/**
 * Runs `write`; expects the versions it added to history to be exactly those logged by the hook meanwhile, once
 * each, each with the caller `callerOf(version key)` returns (actor kind, request id). Returns the new versions.
 */
async function expectEachVersionHookedOnce(
  write: () => Promise<(key: Key) => { actor: string; requestId: string | null }>,
  expectedVersions?: number,
): Promise<Key[]> {
  const before = await history();
  const { rows: last } = await server.pool.query<{ seq: string | null }>('SELECT max(seq)::text AS seq FROM test_commit_log');
  const callerOf = await write();
  const added = [...(await history())].filter((k) => !before.has(k)).sort();
  const { rows } = await server.pool.query<{ actor: string; request_id: string | null; resource_type: string; id: string; version_id: number }>(
    'SELECT actor, request_id, resource_type, id, version_id FROM test_commit_log WHERE seq > $1 ORDER BY seq',
    [last[0].seq ?? '0'],
  );
  expect(keysOf(rows)).toEqual(added);
  for (const r of rows) expect({ actor: r.actor, requestId: r.request_id }).toEqual(callerOf(`${r.resource_type}/${r.id}/${r.version_id}`));
  if (expectedVersions !== undefined) expect(added).toHaveLength(expectedVersions);
  return added;
}

/** Who the commit point records for an HTTP request: the admin client with SMART on, anonymous with it off. */
const HTTP_ACTOR = TEST_AUTH === 'smart' ? 'client' : 'anonymous';
const anonymous = (requestId: string) => () => ({ actor: HTTP_ACTOR, requestId });
const system = () => ({ actor: 'system', requestId: null });
const patient = (family: string, nhid: string): Json => ({
  resourceType: 'Patient',
  identifier: [{ system: 'https://healthid.abdm.gov.in', value: nhid }],
  name: [{ family }],
});

test('create (group commit, concurrent callers), create with a checked reference, conditional create', async () => {
  const ids = new Map<string, string>();
  await expectEachVersionHookedOnce(async () => {
    // Concurrent plain creates share group-commit statements: each version still carries its own caller.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => send('POST', '/Patient', patient(`Group${i}`, `91-0000-0000-${1000 + i}`))),
    );
    for (const r of results) {
      expect(r.status).toBe(201);
      ids.set(`Patient/${r.body.id}/1`, r.requestId);
    }
    return (key) => ({ actor: HTTP_ACTOR, requestId: ids.get(key)! });
  }, 12);
  const [first] = [...ids.keys()];
  const patientId = first.split('/')[1];
  await expectEachVersionHookedOnce(async () => {
    const r = await send('POST', '/Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'pulse' },
      subject: { reference: `Patient/${patientId}` },
    });
    expect(r.status).toBe(201);
    return anonymous(r.requestId);
  }, 1);
  await expectEachVersionHookedOnce(async () => {
    const r = await send('POST', '/Patient', patient('Conditional', '91-1111-1111-1111'), {
      'if-none-exist': 'identifier=https://healthid.abdm.gov.in|91-1111-1111-1111',
    });
    expect(r.status).toBe(201);
    return anonymous(r.requestId);
  }, 1);
  // The conditional create that finds its resource writes nothing, so nothing reaches the hook.
  await expectEachVersionHookedOnce(async () => {
    const r = await send('POST', '/Patient', patient('Conditional', '91-1111-1111-1111'), {
      'if-none-exist': 'identifier=https://healthid.abdm.gov.in|91-1111-1111-1111',
    });
    expect(r.status).toBe(200);
    return anonymous(r.requestId);
  }, 0);
});

test('update, update-as-create, conditional update, patch, conditional patch', async () => {
  const created = await send('POST', '/Patient', patient('Menon', '91-2222-2222-2222'));
  const id = created.body.id as string;
  await expectEachVersionHookedOnce(async () => {
    const r = await send('PUT', `/Patient/${id}`, { ...patient('Menon', '91-2222-2222-2222'), id, gender: 'female' }, { 'if-match': 'W/"1"' });
    expect(r.status).toBe(200);
    return anonymous(r.requestId);
  }, 1);
  await expectEachVersionHookedOnce(async () => {
    const r = await send('PUT', '/Patient/commit-new', { ...patient('New', '91-3333-3333-3333'), id: 'commit-new' });
    expect(r.status).toBe(201);
    return anonymous(r.requestId);
  }, 1);
  await expectEachVersionHookedOnce(async () => {
    const r = await send('PUT', '/Patient?identifier=https://healthid.abdm.gov.in|91-2222-2222-2222', {
      ...patient('Menon', '91-2222-2222-2222'),
      gender: 'male',
    });
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(id);
    return anonymous(r.requestId);
  }, 1);
  // An update identical to the current version makes no version: nothing for the hook.
  await expectEachVersionHookedOnce(async () => {
    const r = await send('PUT', `/Patient/${id}`, { ...patient('Menon', '91-2222-2222-2222'), id, gender: 'male' });
    expect(r.status).toBe(200);
    return anonymous(r.requestId);
  }, 0);
  const jsonPatch = { 'content-type': 'application/json-patch+json' };
  await expectEachVersionHookedOnce(async () => {
    const r = await send('PATCH', `/Patient/${id}`, [{ op: 'add', path: '/active', value: true }], jsonPatch);
    expect(r.status).toBe(200);
    return anonymous(r.requestId);
  }, 1);
  await expectEachVersionHookedOnce(async () => {
    const r = await send(
      'PATCH',
      '/Patient?identifier=https://healthid.abdm.gov.in|91-3333-3333-3333',
      [{ op: 'add', path: '/active', value: false }],
      jsonPatch,
    );
    expect(r.status).toBe(200);
    expect(r.body.id).toBe('commit-new');
    return anonymous(r.requestId);
  }, 1);
});

test('delete and conditional delete; a refused write reaches no hook', async () => {
  const a = await send('POST', '/Patient', patient('Gone', '91-4444-4444-4441'));
  await send('POST', '/Patient', patient('Gone', '91-4444-4444-4442'));
  await send('POST', '/Patient', patient('Gone', '91-4444-4444-4443'));
  await expectEachVersionHookedOnce(async () => {
    const r = await send('DELETE', `/Patient/${a.body.id}`);
    expect(r.status).toBe(204);
    return anonymous(r.requestId);
  }, 1);
  await expectEachVersionHookedOnce(async () => {
    const r = await send('DELETE', '/Patient?family=Gone');
    expect(r.status).toBe(204);
    return anonymous(r.requestId);
  }, 2);
  // Referential integrity refuses the write inside its transaction: no version, no hook call.
  await expectEachVersionHookedOnce(async () => {
    const r = await send('POST', '/Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/nobody' },
    });
    expect(r.status).toBe(422);
    return anonymous(r.requestId);
  }, 0);
});

test("transaction and batch bundles: every entry's version, with the bundle's caller", async () => {
  await expectEachVersionHookedOnce(async () => {
    const r = await send('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:0d9c4a8e-1111-4c3e-9a55-000000000001',
          resource: patient('Tx', '91-5555-5555-5555'),
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'pulse' },
            subject: { reference: 'urn:uuid:0d9c4a8e-1111-4c3e-9a55-000000000001' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
        { resource: { ...patient('Tx2', '91-5555-5555-5556'), id: 'commit-tx' }, request: { method: 'PUT', url: 'Patient/commit-tx' } },
      ],
    });
    expect(r.status).toBe(200);
    return anonymous(r.requestId);
  }, 3);
  await expectEachVersionHookedOnce(async () => {
    const r = await send('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: patient('Batch', '91-6666-6666-6661'), request: { method: 'POST', url: 'Patient' } },
        { resource: patient('Batch', '91-6666-6666-6662'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: 'Patient/commit-tx' } },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/nobody' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.entry.map((e: Json) => e.response.status.slice(0, 3))).toEqual(['201', '201', '204', '422']);
    return anonymous(r.requestId);
  }, 3);
});

test('$import: every imported version, as the caller that kicked it off (the job has no request)', async () => {
  const file = path.join(dataDir, 'patients.ndjson');
  fs.writeFileSync(
    file,
    ['imp-a', 'imp-b', 'imp-c'].map((id, i) => JSON.stringify({ ...patient('Imported', `91-7777-7777-777${i}`), id })).join('\n'),
  );
  await expectEachVersionHookedOnce(async () => {
    const res = await kickOff(server, '/$import', {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
          {
            name: 'input',
            part: [
              { name: 'type', valueCode: 'Patient' },
              { name: 'url', valueUri: pathToFileURL(file).href },
            ],
          },
        ],
      },
    });
    expect(res.status).toBe(202);
    const done = await waitForJob(server, res.headers.get('content-location')!);
    expect(done.status).toBe(200);
    expect(done.body.output).toEqual([expect.objectContaining({ type: 'Patient', count: 3 })]);
    return () => ({ actor: HTTP_ACTOR, requestId: null });
  }, 3);
});

test('`arogya import` (its Importer, in process): every version of its bundles and NDJSON, as the system', async () => {
  const repo = new Repository(server.pool, {
    referentialIntegrity: server.config.referentialIntegrity,
    baseUrl: server.config.baseUrl,
    timeZone: server.config.timeZone,
    afterWrite: [logVersions],
  });
  const dir = fs.mkdtempSync(path.join(dataDir, 'cli-'));
  fs.writeFileSync(
    path.join(dir, 'bundle.json'),
    JSON.stringify({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { ...patient('Cli', '91-8888-8888-8881'), id: 'cli-a' }, request: { method: 'PUT', url: 'Patient/cli-a' } },
        { resource: patient('Cli', '91-8888-8888-8882'), request: { method: 'POST', url: 'Patient' } },
      ],
    }),
  );
  fs.writeFileSync(path.join(dir, 'more.ndjson'), [JSON.stringify({ ...patient('Cli', '91-8888-8888-8883'), id: 'cli-c' })].join('\n'));
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  await expectEachVersionHookedOnce(async () => {
    const importer = new Importer(new TransactionProcessor(repo), SYSTEM_CALLER, server.config.baseUrl, {
      concurrency: 1,
      out: sink,
      progress: sink as unknown as NodeJS.WriteStream,
    });
    expect(await importer.run([path.join(dir, 'bundle.json'), path.join(dir, 'more.ndjson')])).toBe(0);
    return system;
  }, 3);
});
