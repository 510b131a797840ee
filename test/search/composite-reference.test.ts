/**
 * DocumentReference's `relationship` composite (relatesto $ relation): the one R4 composite whose first component is
 * a reference. Both components are matched on the same relatesTo element; the reference component takes the forms
 * a reference search takes — Type/id, an absolute URL on this server (read as Type/id), an absolute URL elsewhere,
 * and a bare id (the component can only point at a DocumentReference). Migration 20261127000960 gives the
 * DocumentReferences written before it their rows. Expected result sets are computed by hand from the resources
 * below.
 */
import path from 'node:path';
import { useServer, type Json } from '../harness';
import { loadFixtures, matchIds } from './fixtures';

const OTHER = 'http://other.example/fhir/DocumentReference/7';

function doc(id: string, relatesTo: { code: string; target: string }[]): Json {
  return {
    resourceType: 'DocumentReference',
    id,
    status: 'current',
    content: [{ attachment: { contentType: 'text/plain', url: `http://docs.example/${id}.txt` } }],
    ...(relatesTo.length ? { relatesTo: relatesTo.map((r) => ({ code: r.code, target: { reference: r.target } })) } : {}),
  };
}

// d1 replaces d0; d2 appends d0 and replaces dx; d3 transforms a document on another server
const docs: Json[] = [
  doc('d0', []),
  doc('dx', []),
  doc('d1', [{ code: 'replaces', target: 'DocumentReference/d0' }]),
  doc('d2', [
    { code: 'appends', target: 'DocumentReference/d0' },
    { code: 'replaces', target: 'DocumentReference/dx/_history/1' },
  ]),
  doc('d3', [{ code: 'transforms', target: OTHER }]),
];

const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, docs);
});

const enc = encodeURIComponent;
const relationship = (v: string) => matchIds(server, `/DocumentReference?relationship=${enc(v)}`);

describe('relationship', () => {
  test('Type/id $ relation, both on the same relatesTo element', async () => {
    expect(await relationship('DocumentReference/d0$replaces')).toEqual(['d1']);
    expect(await relationship('DocumentReference/d0$appends')).toEqual(['d2']);
    expect(await relationship('DocumentReference/dx$replaces')).toEqual(['d2']); // the /_history part is not the target
    expect(await relationship('DocumentReference/dx$appends')).toEqual([]); // d2 appends d0, not dx
    expect(await relationship('DocumentReference/d0$transforms')).toEqual([]);
  });
  test('a bare id, an absolute URL on this server and one elsewhere', async () => {
    expect(await relationship('d0$replaces')).toEqual(['d1']);
    expect(await relationship(`${server.base}/DocumentReference/d0$appends`)).toEqual(['d2']);
    expect(await relationship(`${OTHER}$transforms`)).toEqual(['d3']);
    expect(await relationship('http://elsewhere.example/fhir/DocumentReference/d0$replaces')).toEqual([]);
  });
  test('comma is OR, repetition is AND; :missing', async () => {
    expect(await relationship('DocumentReference/d0$replaces,DocumentReference/dx$replaces')).toEqual(['d1', 'd2']);
    expect(await matchIds(server, `/DocumentReference?relationship=${enc('d0$appends')}&relationship=${enc('dx$replaces')}`)).toEqual(['d2']);
    expect(await matchIds(server, '/DocumentReference?relationship:missing=true')).toEqual(['d0', 'dx']);
    expect(await matchIds(server, '/DocumentReference?relationship:missing=false')).toEqual(['d1', 'd2', 'd3']);
  });
  test('an update replaces the rows', async () => {
    await loadFixtures(server, [doc('d1', [{ code: 'signs', target: 'DocumentReference/d0' }])]);
    expect(await relationship('DocumentReference/d0$replaces')).toEqual([]);
    expect(await relationship('DocumentReference/d0$signs')).toEqual(['d1']);
    await loadFixtures(server, [docs[2]]);
    expect(await relationship('DocumentReference/d0$replaces')).toEqual(['d1']);
  });
  test.each([
    ['one part', 'DocumentReference/d0'],
    ['three parts', 'DocumentReference/d0$replaces$x'],
    ['a malformed reference', 'not a reference$replaces'],
  ])('%s is a 400 naming the parameter', async (_what, value) => {
    const res = await server.request('GET', `/DocumentReference?relationship=${enc(value)}`);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toContain('relationship');
  });
});

describe('migration 20261127000960', () => {
  test('gives DocumentReferences written before it the same rows a write gives', async () => {
    const rows = (sql: string) =>
      server.pool.query(
        `SELECT id, c1_system, c1_code, c2_system, c2_code FROM search_composite WHERE param = 'relationship' ${sql} ORDER BY 1, 3, 5`,
      );
    const written = (await rows('')).rows;
    expect(written.length).toBe(4);
    await server.pool.query(`DELETE FROM search_composite WHERE param = 'relationship'`);
    expect(await relationship('DocumentReference/d0$replaces')).toEqual([]);
    const migration = require(path.resolve(__dirname, '..', '..', 'migrations', '20261127000960_document_reference_relationship.js')) as {
      up(knex: { raw(sql: string): Promise<unknown> }): Promise<void>;
    };
    await migration.up({ raw: (sql) => server.pool.query(sql) });
    expect((await rows('')).rows).toEqual(written);
    expect(await relationship('DocumentReference/d0$replaces')).toEqual(['d1']);
  });
});
