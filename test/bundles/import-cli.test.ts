/**
 * `arogya import` end to end on the compiled CLI (`node dist/server/main.js import …`, npm test builds dist/) against
 * a fresh test database, no server running: the Synthea fixtures folder loads cleanly (infrastructure first), and a
 * folder mixing a failing transaction, NDJSON with forward references and a collection bundle loads everything it
 * can, reports the failure with its reason and exits 1; on the embedded database the exit codes are the same, a
 * re-run's duplicates show in the summary, and a data dir held by a running server gets a message saying what to do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../server/database/embedded';
import { FIXTURES_DIR, createTestDatabase, fixturesAvailable, runCli, type CliRun } from '../harness';
import { killIfRunning, start, waitReady, type Proc } from '../server/processes';

function runImport(args: string[], databaseUrl: string): Promise<CliRun> {
  return runCli(['import', ...args], { DATABASE_URL: databaseUrl });
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const synthea = fixturesAvailable('import CLI on the Synthea fixtures') ? test : test.skip;

synthea(
  'imports ../shared/fixtures/synthea: infrastructure first, every bundle, server references only',
  async () => {
    const url = await createTestDatabase();
    const dir = path.join(FIXTURES_DIR, 'synthea');
    const run = await runImport([dir], url);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: expect.stringContaining('Imported 12 of 12 files') });
    const lines = run.stderr.split('\n').filter((l) => /^[✓!✗] /.test(l));
    expect(lines[0]).toMatch(/^✓ hospitalInformation.*\(batch\): 2382 resources/);
    expect(lines[1]).toMatch(/^✓ practitionerInformation.*\(batch\): 2382 resources/);
    expect(lines).toHaveLength(12);
    let expected = 0;
    for (const sub of fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory())) {
      for (const f of fs.readdirSync(path.join(dir, sub)).filter((n) => n.endsWith('.json'))) {
        expected += (JSON.parse(fs.readFileSync(path.join(dir, sub, f), 'utf8')) as { entry: unknown[] }).entry.length;
      }
    }
    const [{ n }] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM resource');
    expect(n).toBe(expected);
    expect(run.stdout).toContain(`${expected.toLocaleString('en-US')} resources`);
    // No placeholder or conditional reference was stored, and every stored reference resolves.
    const [{ bad }] = await query<{ bad: number }>(
      url,
      `SELECT count(*)::int AS bad FROM resource WHERE content::text ~ '"reference": "(urn:|[A-Za-z]+[?])'`,
    );
    expect(bad).toBe(0);
    const [{ dangling }] = await query<{ dangling: number }>(
      url,
      `SELECT count(*)::int AS dangling FROM resource_link l LEFT JOIN resource r ON r.id = l.target_id AND r.resource_type = l.target_type WHERE r.id IS NULL`,
    );
    expect(dangling).toBe(0);

    // Again: conditional creates find what exists, patient transactions add new copies (POST), nothing fails.
    const again = await runImport([path.join(dir, 'fhir-data-pipes-synthea-hiv', 'practitionerInformation1633536936158.json')], url);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/existing 1,191/);
  },
  120_000,
);

test('a failing file is reported with its reason, the rest loads (NDJSON forward references included), exit 1', async () => {
  const url = await createTestDatabase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-import-'));
  try {
    // Observations come before their Patients (file order and line order): they are retried once the rest is in.
    fs.writeFileSync(
      path.join(dir, 'a-observations.ndjson'),
      `${['obs-1', 'obs-2']
        .map((id, i) =>
          JSON.stringify({
            resourceType: 'Observation',
            id,
            status: 'final',
            code: { text: 'Weight' },
            valueQuantity: { value: 61.5 + i },
            subject: { reference: `Patient/pt-${i + 1}` },
          }),
        )
        .join('\n')}\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'b-patients.ndjson'),
      `${JSON.stringify({ resourceType: 'Patient', id: 'pt-2', link: [{ other: { reference: 'Patient/pt-1' }, type: 'seealso' }] })}\n${JSON.stringify({ resourceType: 'Patient', id: 'pt-1', gender: 'female' })}\n{not json\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'broken-transaction.json'),
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:11111111-2222-4333-8444-555555555555',
            resource: { resourceType: 'Patient', gender: 'male' },
            request: { method: 'POST', url: 'Patient' },
          },
          { resource: { resourceType: 'Patient', gender: 'nonsense' }, request: { method: 'POST', url: 'Patient' } },
        ],
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'collection.json'),
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'collection',
        entry: [
          {
            fullUrl: 'http://elsewhere.example/fhir/Organization/org-9',
            resource: { resourceType: 'Organization', id: 'org-9', name: 'Arogya Diagnostics' },
          },
          { resource: { resourceType: 'Basic', code: { text: 'no id: created' } } },
        ],
      }),
    );
    const run = await runImport([dir], url);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/✗ broken-transaction\.json \(transaction\): 400: Bundle\.entry\[1\] \(POST Patient\): /);
    expect(run.stdout).toMatch(/FAILED: 1 file\(s\), 1 entry/);
    expect(run.stdout).toMatch(/b-patients\.ndjson: 1 failed\n\s+line 3: 400: Malformed JSON/);
    expect(run.stderr).toMatch(/✓ a-observations\.ndjson \(ndjson\): 0 resources/); // all deferred at first
    const rows = await query<{ resource_type: string; id: string }>(url, 'SELECT resource_type, id FROM resource ORDER BY resource_type, id');
    const keys = rows.map((r) => `${r.resource_type}/${r.id}`);
    expect(keys).toEqual(expect.arrayContaining(['Observation/obs-1', 'Observation/obs-2', 'Patient/pt-1', 'Patient/pt-2', 'Organization/org-9']));
    expect(keys.filter((k) => k.startsWith('Basic/'))).toHaveLength(1);
    expect(keys.filter((k) => k.startsWith('Patient/'))).toHaveLength(2); // the transaction left nothing

    const usage = await runImport(['--concurrency', 'lots', dir], url);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: arogya import');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test('on the embedded database: a failed entry exits 1, a re-run of POST bundles is counted as created again, a running server is named', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-import-embedded-'));
  const files = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-import-files-'));
  const env = { AROGYA_DATA_DIR: dataDir };
  let server: Proc | undefined;
  try {
    const posts = path.join(files, 'posts.json');
    fs.writeFileSync(
      posts,
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: {
              resourceType: 'Organization',
              identifier: [{ system: 'https://facility.abdm.gov.in', value: 'IN2710000001' }],
              name: 'Arogya Clinic, Nashik',
            },
            request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=https://facility.abdm.gov.in|IN2710000001' },
          },
          { resource: { resourceType: 'Basic', code: { text: 'posted' } }, request: { method: 'POST', url: 'Basic' } },
        ],
      }),
    );
    const first = await runCli(['import', posts], env);
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(first.stdout).toContain('created 2 · matched 0 (existing 0 · unchanged 0 · updated 0) · deleted 0 · failed 0');
    // Again: the conditional create matches, the plain POST creates a second copy — and the summary says so.
    const again = await runCli(['import', posts], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('created 1 · matched 1 (existing 1 · unchanged 0 · updated 0) · deleted 0 · failed 0');

    const bad = path.join(files, 'bad.ndjson');
    fs.writeFileSync(
      bad,
      `${JSON.stringify({ resourceType: 'Patient', id: 'pt-ok' })}\n${JSON.stringify({ resourceType: 'Patient', id: 'pt-bad', gender: 'nonsense' })}\n`,
    );
    const failed = await runCli(['import', bad], env);
    expect({ code: failed.code, counts: failed.stdout.match(/created .*/)?.[0] }).toEqual({
      code: 1,
      counts: expect.stringMatching(/^created 1 .* failed 1$/),
    });

    // With the server running on the same data dir: a clear message and a failure, not `undefined` and 0.
    const port = await freePort();
    server = start(['serve'], { ...env, PORT: String(port), AROGYA_WORKERS: '1', LOG_LEVEL: 'warn' });
    await waitReady(port, server);
    const busy = await runCli(['import', posts], env);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/already in use .*Stop that server first, or send the data to the running server's API/s);
    expect(busy.stderr).not.toMatch(/^undefined$/m);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  } finally {
    await killIfRunning(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(files, { recursive: true, force: true });
  }
}, 180_000);
