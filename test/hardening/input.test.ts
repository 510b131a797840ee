/**
 * Hostile input (issue 10 items 1, 2, 7, 10): lone UTF-16 surrogates and invalid UTF-8 are refused as invalid
 * input everywhere; error paths log no resource content and answer plain diagnostics; every response carries the
 * protective headers; only the _search endpoints take form bodies.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { startServer, type TestServer } from '../harness';

type Json = Record<string, any>;

const LONE = '{"resourceType":"Patient","name":[{"family":"a\\ud800b"}]}';
let server: TestServer;
let dataDir: string;
const logLines: string[] = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-hardening-'));
  const logStream = new PassThrough();
  logStream.on('data', (d: Buffer) => logLines.push(...d.toString().split('\n').filter(Boolean)));
  server = await startServer(
    { dataDir, logLevel: 'info' },
    {
      logStream,
      beforeListen: (app) =>
        app.get('/hardening-test-page', async (_req, reply) => reply.type('text/html; charset=utf-8').send('<!doctype html><p>page</p>')),
    },
  );
});

afterAll(async () => {
  await server.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function expectLoneSurrogateRefused(outcome: Json, expression: string): void {
  expect(outcome.resourceType).toBe('OperationOutcome');
  const problem = outcome.issue.find((i: Json) => /unpaired UTF-16 surrogate/.test(i.diagnostics));
  expect(problem).toMatchObject({ severity: 'error', expression: [expression] });
}

describe('lone surrogates and invalid UTF-8', () => {
  test('create and update answer 400 naming the element; nothing is stored', async () => {
    const created = await server.request('POST', '/Patient', { body: LONE });
    expect(created.status).toBe(400);
    expectLoneSurrogateRefused(created.body, 'Patient.name[0].family');
    const low = await server.request('PUT', '/Patient/lone-low', {
      body: '{"resourceType":"Patient","id":"lone-low","name":[{"given":["x\\udc00"]}]}',
    });
    expect(low.status).toBe(400);
    expectLoneSurrogateRefused(low.body, 'Patient.name[0].given[0]');
    expect((await server.request('GET', '/Patient/lone-low')).status).toBe(404);
    // a proper pair (an emoji written as escapes) is a character like any other
    const pair = await server.request('POST', '/Patient', { body: '{"resourceType":"Patient","name":[{"family":"a\\ud83d\\ude00b"}]}' });
    expect(pair.status).toBe(201);
    expect(pair.body.name[0].family).toBe('a\u{1F600}b');
  });

  test('transaction: 400 for the bundle naming the entry; batch: only that entry fails', async () => {
    const entry = (family: string, i: number): Json => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${i}`,
      resource: { resourceType: 'Patient', name: [{ family }] },
      request: { method: 'POST', url: 'Patient' },
    });
    const bundle = (type: string): string =>
      JSON.stringify({ resourceType: 'Bundle', type, entry: [entry('Fine', 1), entry('LONE', 2)] }).replace('LONE', 'a\\ud800b');
    const tx = await server.request('POST', '', { body: bundle('transaction') });
    expect(tx.status).toBe(400);
    expect(tx.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]/);
    expect(JSON.stringify(tx.body)).toMatch(/unpaired UTF-16 surrogate/);
    const batch = await server.request('POST', '', { body: bundle('batch') });
    expect(batch.status).toBe(200);
    expect(batch.body.entry[0].response.status).toMatch(/^201/);
    expect(batch.body.entry[1].response.status).toMatch(/^400/);
    expectLoneSurrogateRefused(batch.body.entry[1].response.outcome, 'Bundle.entry[1].resource.name[0].family');
  });

  test('$validate reports the resource invalid', async () => {
    const res = await server.request('POST', '/Patient/$validate', { body: LONE });
    expect(res.status).toBe(200);
    expectLoneSurrogateRefused(res.body, 'Patient.name[0].family');
  });

  test('$import writes an error line for that resource only', async () => {
    const lines = [
      '{"resourceType":"Patient","id":"imp-fine-1","name":[{"family":"Fine"}]}',
      '{"resourceType":"Patient","id":"imp-lone","name":[{"family":"a\\ud800b"}]}',
      '{"resourceType":"Patient","id":"imp-fine-2","name":[{"family":"Fine"}]}',
    ];
    const up = await server.fetch(`${server.base}/_bulk/upload`, {
      method: 'POST',
      body: lines.join('\n'),
      headers: { 'content-type': 'application/fhir+ndjson' },
    });
    expect(up.status).toBe(201);
    const url = ((await up.json()) as Json).url as string;
    const kick = await server.request('POST', '/$import', {
      headers: { prefer: 'respond-async' },
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
          {
            name: 'input',
            part: [
              { name: 'type', valueCode: 'Patient' },
              { name: 'url', valueUri: url },
            ],
          },
        ],
      },
    });
    expect(kick.status).toBe(202);
    let status = await server.request('GET', kick.headers.get('content-location')!);
    for (const deadline = Date.now() + 60_000; status.status === 202 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      status = await server.request('GET', kick.headers.get('content-location')!);
    }
    expect(status.status).toBe(200);
    expect(status.body.output).toEqual([expect.objectContaining({ type: 'Patient', count: 2 })]);
    expect(status.body.error).toEqual([expect.objectContaining({ type: 'OperationOutcome', count: 1 })]);
    const errors = (await (await server.fetch(status.body.error[0].url)).text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
    expect(errors[0].issue[0].diagnostics).toMatch(/^Line 2: .*unpaired UTF-16 surrogate/);
    expect((await server.request('GET', '/Patient/imp-fine-2')).status).toBe(200);
  });

  test('invalid UTF-8 bytes in a body are refused, not replaced', async () => {
    const body = Buffer.concat([
      Buffer.from('{"resourceType":"Patient","name":[{"family":"a'),
      Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]),
      Buffer.from('b"}]}'),
    ]);
    for (const [method, p] of [
      ['POST', '/Patient'],
      ['PUT', '/Patient/bad-utf8'],
    ]) {
      const res = await server.fetch(`${server.base}${p}`, { method, body, headers: { 'content-type': 'application/fhir+json' } });
      expect(res.status).toBe(400);
      expect(((await res.json()) as Json).issue[0].diagnostics).toMatch(/not valid UTF-8/);
    }
    const form = await server.fetch(`${server.base}/Patient/_search`, {
      method: 'POST',
      body: Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3d, 0xc3]),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(400);
    expect((await server.request('GET', '/Patient/bad-utf8')).status).toBe(404);
  });
});

describe('error paths: no resource content in logs, no engine details in responses', () => {
  test('a database error carrying the resource in its message and context logs only the SQLSTATE and request id', async () => {
    // A trigger that fails with the patient's name in the message, detail and context, as PostgreSQL's own
    // errors about a row's values do.
    await server.pool.query(`CREATE FUNCTION hardening_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.content::text LIKE '%Zyxwvutsrani%' THEN
          RAISE EXCEPTION 'refusing %', NEW.content USING DETAIL = NEW.content::text, HINT = NEW.content::text;
        END IF;
        RETURN NEW;
      END $$`);
    await server.pool.query('CREATE TRIGGER hardening_fail BEFORE INSERT ON resource FOR EACH ROW EXECUTE FUNCTION hardening_fail()');
    try {
      const before = logLines.length;
      const res = await server.request('POST', '/Patient', {
        body: { resourceType: 'Patient', name: [{ family: 'Zyxwvutsrani' }] },
        headers: { 'x-request-id': 'hardening-log-1' },
      });
      expect(res.status).toBe(500);
      expect(res.text).not.toMatch(/Zyxwvutsrani|P0001|refusing/);
      const lines = logLines.slice(before);
      const errorLine = lines.map((l) => JSON.parse(l) as Json).find((l) => l.level >= 50);
      expect(errorLine).toMatchObject({ reqId: 'hardening-log-1', error: { type: 'DatabaseError', sqlstate: 'P0001' } });
      expect(lines.join('\n')).not.toMatch(/Zyxwvutsrani/);
    } finally {
      await server.pool.query('DROP TRIGGER hardening_fail ON resource; DROP FUNCTION hardening_fail()');
    }
  });

  test('a body nested beyond the stack is a 400 naming the limit, not the engine message', async () => {
    const depth = 100_000;
    const res = await server.request('POST', '/Patient', { body: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/AROGYA_MAX_BODY_DEPTH/);
    expect(res.text).not.toMatch(/call stack/i);
  });
});

describe('response headers', () => {
  test('patient data is not stored by caches; nothing is sniffed', async () => {
    const created = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', name: [{ family: 'Cache' }] } });
    for (const res of [
      created,
      await server.request('GET', `/Patient/${created.body.id}`),
      await server.request('GET', '/Patient?name=Cache'),
      await server.request('GET', '/Patient/nobody'),
    ]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const health = await fetch(server.base.replace('/fhir', '/healthz'));
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
  });

  test('HTML pages get a content security policy and framing protection', async () => {
    const page = await fetch(server.base.replace('/fhir', '/hardening-test-page'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect((await server.request('GET', '/metadata')).headers.get('x-frame-options')).toBeNull();
  });
});

describe('content types', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  test('a JSON resource sent as a form creates nothing (415)', async () => {
    const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Formly' }] });
    expect((await server.request('POST', '/Patient', { body, headers: form })).status).toBe(415);
    expect((await server.request('PUT', '/Patient/formly', { body: body.replace('{', '{"id":"formly",'), headers: form })).status).toBe(415);
    expect((await server.request('POST', '', { body: '{"resourceType":"Bundle","type":"batch"}', headers: form })).status).toBe(415);
    const res = await server.request('POST', '/Patient', { body, headers: { 'content-type': 'application/json-patch+json' } });
    expect(res.status).toBe(415);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect((await server.request('GET', '/Patient?name=Formly')).body.entry ?? []).toEqual([]);
    expect((await server.request('GET', '/Patient/formly')).status).toBe(404);
  });

  test('form bodies still work where they belong: POST [type]/_search and POST /_search', async () => {
    await server.request('PUT', '/Patient/form-search', { body: { resourceType: 'Patient', id: 'form-search', name: [{ family: 'Formsearch' }] } });
    const typed = await server.request('POST', '/Patient/_search', { body: 'name=Formsearch', headers: form });
    expect(typed.status).toBe(200);
    expect(typed.body.entry.map((e: Json) => e.resource.id)).toEqual(['form-search']);
    const system = await server.request('POST', '/_search', { body: '_type=Patient&name=Formsearch', headers: form });
    expect(system.status).toBe(200);
    expect(system.body.entry.map((e: Json) => e.resource.id)).toEqual(['form-search']);
  });
});
