/**
 * `arogya import` end to end on the compiled CLI (`node dist/server/main.js import …`, npm test builds dist/) against
 * a fresh test database, no server running: the Synthea fixtures folder loads cleanly (infrastructure first), and a
 * folder mixing a failing transaction, NDJSON with forward references and a collection bundle loads everything it
 * can, reports the failure with its reason and exits 1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { FIXTURES_DIR, createTestDatabase, fixturesAvailable, runCli, type CliRun } from '../harness';

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

synthea('imports ../shared/fixtures/synthea: infrastructure first, every bundle, server references only', async () => {
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
  const [{ bad }] = await query<{ bad: number }>(url, `SELECT count(*)::int AS bad FROM resource WHERE content::text ~ '"reference": "(urn:|[A-Za-z]+[?])'`);
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
}, 120_000);

test('a failing file is reported with its reason, the rest loads (NDJSON forward references included), exit 1', async () => {
  const url = await createTestDatabase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-import-'));
  try {
    // Observations come before their Patients (file order and line order): they are retried once the rest is in.
    fs.writeFileSync(
      path.join(dir, 'a-observations.ndjson'),
      ['obs-1', 'obs-2']
        .map((id, i) => JSON.stringify({ resourceType: 'Observation', id, status: 'final', code: { text: 'Weight' }, valueQuantity: { value: 61.5 + i }, subject: { reference: `Patient/pt-${i + 1}` } }))
        .join('\n') + '\n',
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
          { fullUrl: 'urn:uuid:11111111-2222-4333-8444-555555555555', resource: { resourceType: 'Patient', gender: 'male' }, request: { method: 'POST', url: 'Patient' } },
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
          { fullUrl: 'http://elsewhere.example/fhir/Organization/org-9', resource: { resourceType: 'Organization', id: 'org-9', name: 'Arogya Diagnostics' } },
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
