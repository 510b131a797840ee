/**
 * How resource bodies are stored (migration 20261206000000): compressed with lz4 where PostgreSQL has it, read back
 * unchanged, and a superseded version keeps its body readable.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR, fixturesAvailable, useServer, type Json } from '../harness';

const BOB = path.join(FIXTURES_DIR, 'synthea', 'fhir-data-pipes-synthea-hiv', 'Bob965_Keeling57_3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b.json');
const enabled = fixturesAvailable('storage of resource bodies');
const server = useServer();

(enabled ? test : test.skip)('a Synthea Patient’s body is lz4-compressed (when PostgreSQL has lz4) and reads back as written', async () => {
  const bundle = JSON.parse(fs.readFileSync(BOB, 'utf8')) as Json;
  const { id: _id, ...patient } = (bundle.entry as Json[]).find((e) => e.resource.resourceType === 'Patient')!.resource;
  // past the TOAST threshold, as most clinical resources of a few kB are
  const big = { ...patient, text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'Bob Keeling. '.repeat(300)}</div>` } };
  const created = await server.request('POST', '/Patient', { body: big });
  expect(created.status).toBe(201);
  const id = created.body.id as string;

  const { rows: has } = await server.pool.query<{ lz4: boolean }>(
    `SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`,
  );
  const { rows } = await server.pool.query<{ method: string | null }>(
    `SELECT pg_column_compression(content) AS method FROM resource WHERE id = $1 AND resource_type = 'Patient'`,
    [id],
  );
  expect(rows[0].method).toBe(has[0].lz4 ? 'lz4' : 'pglz');

  const read = await server.request('GET', `/Patient/${id}`);
  expect(read.status).toBe(200);
  const { meta, id: _readId, ...body } = read.body;
  const { meta: sentMeta, ...sent } = big;
  expect(body).toEqual(sent);
  expect(meta.profile).toEqual(sentMeta.profile); // the server adds versionId and lastUpdated

  // an update moves version 1 to resource_superseded, its body unchanged and still readable
  const updated = await server.request('PUT', `/Patient/${id}`, { body: { ...big, id, gender: 'female' } });
  expect(updated.status).toBe(200);
  const v1 = await server.request('GET', `/Patient/${id}/_history/1`);
  expect(v1.status).toBe(200);
  expect(v1.body.gender).toBe(big.gender);
  expect(v1.body.text.div).toBe(big.text.div);
});
