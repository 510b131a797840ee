/**
 * Custom SearchParameter resources (issue 3 item 7), over real HTTP: a SearchParameter POSTed with a FHIRPath
 * expression is pending — searches with it refused with "reindex in progress (n %)" — while its reindex job fills
 * the index for resources written before it (with updates racing the job), its progress is visible through
 * `$reindex-status`, and then it is active and finds old and new data alike. Invalid definitions are refused on
 * write; changing one reindexes it; deleting one deactivates it and purges its rows.
 */
import { startServer, type TestServer } from '../harness';
import { Repository } from '../../server/repository/repository';
import type { VersionWrite } from '../../server/repository/writes';
import type { JsonObject } from '../../server/fhir/json';

const NHID = 'https://healthid.abdm.gov.in';
const OLD_PATIENTS = 1200; // more than two reindex batches
const POLL_MS = 200;

let server: TestServer;

function nhid(i: number): string {
  const d = String(91_0000_0000_0000 + i * 7919);
  return `${d.slice(0, 2)}-${d.slice(2, 6)}-${d.slice(6, 10)}-${d.slice(10)}`;
}

function patient(i: number, value = nhid(i)): JsonObject {
  return {
    resourceType: 'Patient',
    id: `old${i}`,
    identifier: [
      { system: 'urn:hms:mrn', value: `MRN-${i}` },
      { system: NHID, value },
    ],
    name: [{ family: `Family${i}`, given: ['Test'] }],
  };
}

const nhidParameter = {
  resourceType: 'SearchParameter',
  url: 'https://arogya.example.in/fhir/SearchParameter/Patient-nhid',
  name: 'nhid',
  status: 'active',
  description: 'The ABHA number (NHID) of a patient',
  code: 'nhid',
  base: ['Patient'],
  type: 'token',
  expression: "Patient.identifier.where(system='https://healthid.abdm.gov.in').value",
};

async function ids(query: string): Promise<string[]> {
  const res = await server.request('GET', query);
  expect(res.status).toBe(200);
  return (res.body.entry ?? [])
    .filter((e: { search: { mode: string } }) => e.search.mode === 'match')
    .map((e: { resource: { id: string } }) => e.resource.id)
    .sort();
}

async function status(id: string): Promise<Record<string, unknown>> {
  const res = await server.request('GET', `/SearchParameter/${id}/$reindex-status`);
  expect(res.status).toBe(200);
  const out: Record<string, unknown> = {};
  for (const p of res.body.parameter as Record<string, unknown>[]) {
    const value = Object.entries(p).find(([k]) => k.startsWith('value'))?.[1];
    out[p.name as string] = out[p.name as string] === undefined ? value : [out[p.name as string], value].flat();
  }
  return out;
}

async function untilActive(id: string, timeoutMs = 60_000): Promise<Record<string, unknown>[]> {
  const seen: Record<string, unknown>[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(id);
    seen.push(s);
    if (s.status === 'active') return seen;
    if (s.status === 'failed') throw new Error(`reindex failed: ${String(s.error)}`);
    if (Date.now() > deadline) throw new Error(`still ${String(s.status)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  server = await startServer({ searchParameterPollMs: POLL_MS });
  // Existing data, written before any custom parameter exists (the repository's own write path).
  const repo = new Repository(server.pool, { referentialIntegrity: false, baseUrl: server.base, timeZone: 'UTC' });
  const writes: VersionWrite[] = [];
  for (let i = 0; i < OLD_PATIENTS; i++) {
    writes.push(repo.planVersion({ resourceType: 'Patient', id: `old${i}`, versionId: 1, method: 'PUT', insert: true }, patient(i)));
  }
  await repo.executeWrites(server.pool, writes, { returnContent: false });
  for (const [id, display] of [
    ['obs1', 'Systolic blood pressure'],
    ['obs2', 'Body weight'],
    ['obs3', 'Systolic murmur'],
  ]) {
    const res = await server.request('PUT', `/Observation/${id}`, {
      body: { resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: id, display }] } },
    });
    expect(res.status).toBe(201);
  }
}, 120_000);
afterAll(async () => server?.close());

describe('a token parameter over the national health ID', () => {
  let spId: string;
  const updated = new Map<number, string>();

  test('is pending at first: searches with it are refused with the reindex progress', async () => {
    const res = await server.request('POST', '/SearchParameter', { body: nhidParameter });
    expect(res.status).toBe(201);
    spId = res.body.id;
    const search = await server.request('GET', `/Patient?nhid=${nhid(5)}`);
    expect(search.status).toBe(400);
    expect(search.body.issue[0].diagnostics).toMatch(/'nhid'.*reindex in progress \(\d+ %\)/);
    // also as a sort key, in a chain and under lenient handling: never silently ignored
    expect((await server.request('GET', '/Patient?_sort=nhid')).status).toBe(400);
    expect((await server.request('GET', `/Observation?subject:Patient.nhid=${nhid(5)}`)).status).toBe(400);
    expect((await server.request('GET', `/Patient?nhid=${nhid(5)}`, { headers: { prefer: 'handling=lenient' } })).status).toBe(400);
    const s = await status(spId);
    expect(s.status).toBe('pending');
    expect(s.code).toBe('nhid');
    expect(s.base).toBe('Patient');
  });

  test('new writes are indexed at once, concurrent updates stay consistent, and the reindex completes', async () => {
    // A Patient created while the parameter is pending, and updates racing the reindex job.
    const created = await server.request('POST', '/Patient', {
      body: { resourceType: 'Patient', identifier: [{ system: NHID, value: '12-3456-7890-1234' }] },
    });
    expect(created.status).toBe(201);
    let racing = true;
    const race = (async () => {
      let k = 0;
      while (racing) {
        const i = (k * 37) % OLD_PATIENTS;
        const value = `55-0000-0000-${String(k).padStart(4, '0')}`;
        const res = await server.request('PUT', `/Patient/old${i}`, { body: patient(i, value) });
        expect(res.status).toBe(200);
        updated.set(i, value);
        k++;
      }
    })();
    const seen = await untilActive(spId);
    racing = false;
    await race;
    const final = seen[seen.length - 1];
    expect(final.progress).toBe(100);
    expect(final.total).toBe(OLD_PATIENTS + 1);
    expect(final.processed).toBeGreaterThanOrEqual(OLD_PATIENTS);
    expect(updated.size).toBeGreaterThan(0);

    // Old, new and updated data are all found; superseded values are not.
    expect(await ids(`/Patient?nhid=${nhid(5)}`)).toEqual(updated.has(5) ? [] : ['old5']);
    expect(await ids(`/Patient?nhid=${nhid(OLD_PATIENTS - 1)}`)).toEqual(updated.has(OLD_PATIENTS - 1) ? [] : [`old${OLD_PATIENTS - 1}`]);
    expect(await ids('/Patient?nhid=12-3456-7890-1234')).toEqual([created.body.id]);
    for (const [i, value] of updated) {
      expect(await ids(`/Patient?nhid=${value}`)).toEqual([`old${i}`]);
      expect(await ids(`/Patient?nhid=${nhid(i)}`)).toEqual([]);
    }

    // The index holds exactly one row per patient: its current value (no stale or missing rows).
    const { rows } = await server.pool.query<{ id: string; code: string }>(
      `SELECT id, code FROM search_token WHERE resource_type = 'Patient' AND param = 'nhid' ORDER BY id`,
    );
    const expected = new Map<string, string>();
    for (let i = 0; i < OLD_PATIENTS; i++) expected.set(`old${i}`, updated.get(i) ?? nhid(i));
    expected.set(created.body.id, '12-3456-7890-1234');
    expect(rows.length).toBe(expected.size);
    for (const r of rows) expect(r.code).toBe(expected.get(r.id));
  }, 90_000);

  test('is listed in the CapabilityStatement once active', async () => {
    const res = await server.request('GET', '/metadata');
    const patientRes = res.body.rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
    expect(patientRes.searchParam.find((p: { name: string }) => p.name === 'nhid')).toMatchObject({ type: 'token', definition: nhidParameter.url });
  });

  test('works with modifiers, chains, _sort and _has like a built-in parameter', async () => {
    const value = '12-3456-7890-1234';
    expect(await ids(`/Patient?nhid:not=${value}&_count=1&_total=accurate`)).toHaveLength(1);
    expect(await ids(`/Patient?nhid:missing=true`)).toEqual([]);
    const obs = await server.request('POST', '/Observation', {
      body: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/old7` } },
    });
    expect(obs.status).toBe(201);
    const seven = updated.get(7) ?? nhid(7);
    expect(await ids(`/Observation?subject:Patient.nhid=${seven}`)).toEqual([obs.body.id]);
  });

  test('$reindex starts it over, and it becomes active again', async () => {
    const res = await server.request('POST', `/SearchParameter/${spId}/$reindex`);
    expect(res.status).toBe(202);
    expect(res.headers.get('content-location')).toMatch(/\$reindex-status$/);
    expect((await server.request('GET', `/Patient?nhid=${nhid(3)}`)).status).toBe(400);
    await untilActive(spId);
    expect(await ids(`/Patient?nhid=${updated.get(3) ?? nhid(3)}`)).toEqual(['old3']);
  }, 60_000);
});

describe('a string parameter over Observation.code.coding.display', () => {
  test('is found by prefix and :contains after its reindex; a change of expression reindexes it', async () => {
    const res = await server.request('POST', '/SearchParameter', {
      body: {
        resourceType: 'SearchParameter',
        url: 'https://arogya.example.in/fhir/SearchParameter/Observation-code-display',
        name: 'code-display',
        status: 'active',
        description: 'The display text of the observation code',
        code: 'code-display',
        base: ['Observation'],
        type: 'string',
        expression: 'Observation.code.coding.display',
      },
    });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect((await server.request('GET', '/Observation?code-display=sys')).status).toBe(400);
    await untilActive(id);
    expect(await ids('/Observation?code-display=systolic')).toEqual(['obs1', 'obs3']);
    expect(await ids('/Observation?code-display:contains=weigh')).toEqual(['obs2']);

    // New version, new expression (the code's text instead): pending again, then the new values.
    const put = await server.request('PUT', `/SearchParameter/${id}`, { body: { ...res.body, expression: 'Observation.code.text' } });
    expect(put.status).toBe(200);
    expect((await server.request('GET', '/Observation?code-display=systolic')).status).toBe(400);
    await untilActive(id);
    expect(await ids('/Observation?code-display=systolic')).toEqual([]);

    // A new version that indexes the same values (description only) needs no reindex.
    const again = await server.request('PUT', `/SearchParameter/${id}`, { body: { ...put.body, description: 'changed' } });
    expect(again.status).toBe(200);
    expect((await status(id)).status).toBe('active');
  }, 60_000);
});

describe('refused definitions', () => {
  const base = {
    resourceType: 'SearchParameter',
    url: 'https://arogya.example.in/fhir/SearchParameter/x',
    name: 'x',
    status: 'active',
    description: 'x',
  };
  test.each([
    [
      'an invalid FHIRPath expression',
      { code: 'bad1', base: ['Patient'], type: 'string', expression: 'Patient.name.given.where(' },
      /not valid FHIRPath/,
    ],
    ['an unknown function', { code: 'bad2', base: ['Patient'], type: 'string', expression: 'Patient.name.frobnicate()' }, /not valid FHIRPath/],
    [
      'an unknown element',
      { code: 'bad3', base: ['Patient'], type: 'string', expression: 'Patient.nmae.given' },
      /Patient\.nmae is not an element of Patient/,
    ],
    [
      'an expression not rooted at its base',
      { code: 'bad4', base: ['Patient'], type: 'string', expression: 'Observation.code.text' },
      /no part for base Patient/,
    ],
    ['a composite type', { code: 'bad5', base: ['Observation'], type: 'composite', expression: 'Observation' }, /type 'composite' is not supported/],
    ['a built-in code', { code: 'name', base: ['Patient'], type: 'string', expression: 'Patient.name.family' }, /already the R4 search parameter/],
    ['an abstract base', { code: 'bad6', base: ['Resource'], type: 'token', expression: 'Resource.id' }, /not a concrete resource type/],
  ])('%s is refused with a 422', async (_what, def, message) => {
    const res = await server.request('POST', '/SearchParameter', { body: { ...base, ...def } });
    expect(res.status).toBe(422);
    expect(res.body.issue.map((i: { diagnostics: string }) => i.diagnostics).join('\n')).toMatch(message);
  });

  test('a second parameter with the same code and base is a 409', async () => {
    const res = await server.request('POST', '/SearchParameter', { body: { ...nhidParameter, url: 'https://other.example/nhid' } });
    expect(res.status).toBe(409);
    expect(res.body.issue[0].diagnostics).toMatch(/already defines 'nhid' for Patient/);
  });

  test('a draft is stored but not served', async () => {
    const res = await server.request('POST', '/SearchParameter', {
      body: { ...base, status: 'draft', code: 'drafted', base: ['Patient'], type: 'string', expression: 'Patient.name.text' },
    });
    expect(res.status).toBe(201);
    expect((await status(res.body.id)).status).toBe('inactive');
    const search = await server.request('GET', '/Patient?drafted=x');
    expect(search.status).toBe(400);
    expect(search.body.issue[0].diagnostics).toMatch(/Unknown search parameter 'drafted'/);
  });

  test('a copy of an R4 definition is accepted and ignored (the built-in parameter serves it)', async () => {
    const res = await server.request('POST', '/SearchParameter', {
      body: {
        ...base,
        url: 'http://hl7.org/fhir/SearchParameter/individual-gender',
        code: 'gender',
        base: ['Patient'],
        type: 'token',
        expression: 'Patient.gender',
      },
    });
    expect(res.status).toBe(201);
    expect((await status(res.body.id)).status).toBe('inactive');
  });
});

describe('deleting a parameter', () => {
  test('deactivates it at once and purges its index rows', async () => {
    const res = await server.request('POST', '/SearchParameter', {
      body: {
        resourceType: 'SearchParameter',
        url: 'https://arogya.example.in/fhir/SearchParameter/Patient-mrn',
        name: 'mrn',
        status: 'active',
        description: 'Hospital MRN',
        code: 'mrn',
        base: ['Patient'],
        type: 'token',
        expression: "Patient.identifier.where(system='urn:hms:mrn').value",
      },
    });
    expect(res.status).toBe(201);
    await untilActive(res.body.id);
    expect(await ids('/Patient?mrn=MRN-17')).toEqual(['old17']);
    const count = async () => (await server.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM search_token WHERE param = 'mrn'`)).rows[0].n;
    expect(await count()).toBe(OLD_PATIENTS);

    expect([200, 204]).toContain((await server.request('DELETE', `/SearchParameter/${res.body.id}`)).status);
    const search = await server.request('GET', '/Patient?mrn=MRN-17');
    expect(search.status).toBe(400);
    expect(search.body.issue[0].diagnostics).toMatch(/Unknown search parameter 'mrn'/);
    const deadline = Date.now() + 20_000;
    while ((await count()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await count()).toBe(0);
    // New writes no longer extract it.
    await server.request('PUT', '/Patient/old17', { body: patient(17, updatedValue()) });
    expect(await count()).toBe(0);
  }, 60_000);
});

function updatedValue(): string {
  return '66-0000-0000-0001';
}
