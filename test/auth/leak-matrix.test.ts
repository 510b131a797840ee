/**
 * The leak matrix of issue 11: two real Synthea patients (fhir-data-pipes bundles, after the two infrastructure
 * bundles), an access token scoped to one of them (patient/*.cruds with launch patient A), and every path of point 5
 * — read, vread, search (type, system, compartment), _include, _revinclude, :iterate, chains, _has, _list, history
 * (instance, type, system), $everything, bundle GET entries, $export (system, patient, group), $meta, $validate —
 * must return zero resources of patient B: no id of B's data appears anywhere in a response (bundle entries,
 * included resources, links, OperationOutcomes), other than an id the request itself named. Then writes: outside
 * the compartment refused, moving a resource out refused, scope escalation refused (403), and type-level 403s.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR, fixturesAvailable, startServer, TEST_AUTH, type FhirResponse, type Json, type TestServer } from '../harness';

const DIR = path.join(FIXTURES_DIR, 'synthea', 'fhir-data-pipes-synthea-hiv');
const INFRASTRUCTURE = ['hospitalInformation1633536936158.json', 'practitionerInformation1633536936158.json'];
const BOB = 'Bob965_Keeling57_3f6fd0bb-6cd3-eb3f-4401-cd38ace25f2b.json';
const JANI = 'Jani266_Reynolds644_304f9946-5db8-dc6f-e060-48b9fea3ca5d.json';

const enabled = TEST_AUTH === 'smart' && fixturesAvailable('the leak matrix');
const describeAuth = enabled ? describe : describe.skip;

let server: TestServer;
let a: string; // patient A (the token's)
let b: string; // patient B (must never leak)
/** Ids of B's data: resources linking to B (and not to A), and B. */
let bIds: Set<string>;
let aIds: Set<string>;
let tokenA: string;

async function issue(scope: string, extra: { patient?: string; fhirUser?: string; sub?: string } = {}): Promise<string> {
  const t = await server.app.authServices!.tokens.issueAccessToken({ clientId: 'leak-app', sub: extra.sub ?? 'user-a', scope, ...extra });
  return t.access_token;
}

function as(token: string) {
  return (method: string, p: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<FhirResponse> =>
    server.request(method, p, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } });
}

/** An `$import` kick-off of one NDJSON input (prefer respond-async). */
function importOf(type: string, url: string): { headers: Record<string, string>; body: Json } {
  return {
    headers: { prefer: 'respond-async' },
    body: {
      resourceType: 'Parameters',
      parameter: [
        {
          name: 'input',
          part: [
            { name: 'type', valueCode: type },
            { name: 'url', valueUri: url },
          ],
        },
      ],
    },
  };
}

/** A bulk job's status once it is no longer 202 (in progress); throws after 60 s. */
async function finished(get: ReturnType<typeof as>, status: string, what: string): Promise<FhirResponse> {
  for (const deadline = Date.now() + 60_000; ; ) {
    const res = await get('GET', status);
    if (res.status !== 202) return res;
    if (Date.now() > deadline) throw new Error(`${what} did not finish`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** B's ids found in a response text, except those the request named itself. */
function leaked(text: string, named: string[] = []): string[] {
  return [...bIds].filter((id) => !named.includes(id) && text.includes(id));
}

function expectNoLeak(res: FhirResponse, named: string[] = []): void {
  expect(leaked(res.text, named)).toEqual([]);
}

/** Every resource id of a response bundle (entries, whatever their mode), and of nested bundles (batch responses). */
function idsIn(body: Json | undefined): string[] {
  const out: string[] = [];
  for (const e of (body?.entry ?? []) as Json[]) {
    if (e.resource?.id) out.push(e.resource.id);
    if (e.resource?.resourceType === 'Bundle') out.push(...idsIn(e.resource));
  }
  return out;
}

async function loadBundle(file: string): Promise<void> {
  const res = await server.request('POST', '/', { body: fs.readFileSync(path.join(DIR, file), 'utf8') });
  if (res.status !== 200) throw new Error(`${file}: ${res.status} ${res.text.slice(0, 500)}`);
}

async function linked(patient: string): Promise<Set<string>> {
  const { rows } = await server.pool.query<{ id: string }>(
    `SELECT DISTINCT id FROM resource_link WHERE target_type = 'Patient' AND target_id = $1 AND resource_type <> 'Patient'`,
    [patient],
  );
  return new Set([patient, ...rows.map((r) => r.id)]);
}

beforeAll(async () => {
  if (!enabled) return;
  server = await startServer();
  for (const f of [...INFRASTRUCTURE, BOB, JANI]) await loadBundle(f);
  const patients = await server.request('GET', '/Patient?_count=10&_sort=family');
  const byFamily = new Map<string, string>((patients.body.entry as Json[]).map((e) => [e.resource.name[0].family, e.resource.id]));
  a = byFamily.get('Keeling57')!;
  b = byFamily.get('Reynolds644')!;
  const [la, lb] = [await linked(a), await linked(b)];
  aIds = la;
  bIds = new Set([...lb].filter((id) => !la.has(id)));
  tokenA = await issue('launch/patient patient/*.cruds', { patient: a });
}, 240_000);

afterAll(async () => server?.close());

describeAuth('a patient-scoped token sees none of another patient’s data', () => {
  let bObs: string;
  let bEncounter: string;
  let bCondition: string;
  beforeAll(async () => {
    const admin = (p: string) => server.request('GET', p);
    bObs = (await admin(`/Observation?subject=Patient/${b}&_count=1`)).body.entry[0].resource.id;
    bEncounter = (await admin(`/Encounter?subject=Patient/${b}&_count=1`)).body.entry[0].resource.id;
    bCondition = (await admin(`/Condition?subject=Patient/${b}&_count=1`)).body.entry[0].resource.id;
    expect(bIds.size).toBeGreaterThan(100);
    expect(aIds.size).toBeGreaterThan(100);
  });

  test('read and vread of B’s resources: 404, never the resource', async () => {
    const get = as(tokenA);
    for (const p of [
      `/Patient/${b}`,
      `/Observation/${bObs}`,
      `/Encounter/${bEncounter}`,
      `/Observation/${bObs}/_history/1`,
      `/Patient/${b}/_history/1`,
    ]) {
      const res = await get('GET', p);
      expect(res.status).toBe(404);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expectNoLeak(res, [b, bObs, bEncounter]);
    }
    expect((await get('GET', `/Patient/${a}`)).status).toBe(200);
  });

  test('type search: only A’s compartment, and total counts only it', async () => {
    const get = as(tokenA);
    const res = await get('GET', '/Observation?_count=1000&_total=accurate');
    expect(res.status).toBe(200);
    expectNoLeak(res);
    const ids = idsIn(res.body);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => aIds.has(id))).toBe(true);
    expect(res.body.total).toBe(ids.length);
    const adminCount = (await server.request('GET', `/Observation?subject=Patient/${a}&_summary=count`)).body.total;
    expect(res.body.total).toBe(adminCount);
    for (const p of [
      `/Observation?subject=Patient/${b}`,
      `/Observation?patient=${b}&_total=accurate`,
      `/Condition?_id=${bCondition}`,
      '/Patient?_count=100',
    ]) {
      const r = await get('GET', p);
      expect(r.status).toBe(200);
      expectNoLeak(r, [b, bCondition]);
      expect(idsIn(r.body).every((id) => aIds.has(id))).toBe(true);
    }
    // POST _search alike
    const post = await get('POST', '/Observation/_search', {
      body: `patient=${b}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(post.status).toBe(200);
    expect(idsIn(post.body)).toEqual([]);
  });

  test('system and compartment search', async () => {
    const get = as(tokenA);
    for (const p of [
      '/?_type=Observation,Condition,Encounter,Patient&_count=1000',
      `/Patient/${b}/Observation`,
      `/Patient/${b}/Encounter?_count=100`,
    ]) {
      const res = await get('GET', p);
      expect(res.status).toBe(200);
      expectNoLeak(res, [b]);
      expect(idsIn(res.body).every((id) => aIds.has(id))).toBe(true);
    }
    expect(idsIn((await get('GET', `/Patient/${a}/Observation?_count=5`)).body).length).toBe(5);
  });

  test('_include, _revinclude and :iterate never reach B', async () => {
    const get = as(tokenA);
    const paths = [
      '/Observation?_include=Observation:subject&_include=Observation:encounter&_count=1000',
      '/Patient?_revinclude=Observation:subject&_revinclude=Encounter:subject&_count=100',
      '/Encounter?_include=Encounter:service-provider&_revinclude:iterate=Encounter:service-provider&_count=1000',
      '/Encounter?_include=Encounter:participant&_revinclude:iterate=Encounter:participant&_count=1000',
      '/Encounter?_include=Encounter:location&_revinclude:iterate=Encounter:location&_revinclude:iterate=Observation:encounter&_count=1000',
      '/Observation?_include=Observation:performer&_revinclude:iterate=Observation:performer&_count=1000',
      '/Encounter?_include=*&_include:iterate=*&_revinclude:iterate=Observation:encounter&_count=200',
    ];
    for (const p of paths) {
      const res = await get('GET', p);
      expect(res.status).toBe(200);
      expectNoLeak(res);
    }
    const withPatient = await get('GET', '/Observation?_include=Observation:subject&_count=5');
    expect(idsIn(withPatient.body)).toContain(a);
  });

  test('chains, _has and _list cannot match through B’s data', async () => {
    const get = as(tokenA);
    const bp = (await server.request('GET', `/Patient/${b}`)).body;
    const family = bp.name[0].family as string;
    const code = (await server.request('GET', `/Observation/${bObs}`)).body.code.coding[0].code as string;
    const list = await server.request('POST', '/List', {
      body: { resourceType: 'List', status: 'current', mode: 'working', entry: [{ item: { reference: `Observation/${bObs}` } }] },
    });
    const paths = [
      `/Observation?subject.name=${family}`,
      `/Observation?subject:Patient.family=${family}`,
      `/Encounter?patient.family=${family}`,
      `/Observation?encounter._id=${bEncounter}`,
      `/Patient?_has:Observation:subject:code=${code}&_count=100`,
      `/Patient?_has:Encounter:subject:_id=${bEncounter}`,
      `/Organization?_has:Encounter:service-provider:subject=Patient/${b}`,
      `/Observation?_list=${list.body.id}`,
    ];
    for (const p of paths) {
      const res = await get('GET', p);
      expect(res.status).toBe(200);
      expectNoLeak(res, [bEncounter, b]);
      expect(idsIn(res.body).every((id) => aIds.has(id) || !bIds.has(id))).toBe(true);
    }
    // _has through B's encounter: Patient A never has it, Patient B is invisible
    expect(idsIn((await get('GET', `/Patient?_has:Encounter:subject:_id=${bEncounter}`)).body)).toEqual([]);
    expect(idsIn((await get('GET', `/Observation?_list=${list.body.id}`)).body)).toEqual([]);
  });

  test('history: instance, type and system list only A’s versions', async () => {
    const get = as(tokenA);
    const instance = await get('GET', `/Observation/${bObs}/_history`);
    expect([200, 404]).toContain(instance.status);
    expect(idsIn(instance.body)).toEqual([]);
    expectNoLeak(instance, [bObs]);
    for (const p of ['/Observation/_history?_count=1000', '/_history?_count=1000', '/Patient/_history']) {
      const res = await get('GET', p);
      expect(res.status).toBe(200);
      expectNoLeak(res);
      expect(idsIn(res.body).length).toBeGreaterThan(0);
    }
  });

  test('$everything: B’s is 404, A’s holds nothing of B', async () => {
    const get = as(tokenA);
    const theirs = await get('GET', `/Patient/${b}/$everything`);
    expect(theirs.status).toBe(404);
    expectNoLeak(theirs, [b]);
    const mine = await get('GET', `/Patient/${a}/$everything?_count=1000`);
    expect(mine.status).toBe(200);
    expectNoLeak(mine);
    expect(idsIn(mine.body).length).toBeGreaterThan(50);
    const enc = await get('GET', `/Encounter/${bEncounter}/$everything`);
    expect(enc.status).toBe(404);
  });

  test('bundle GET entries go through the same read path', async () => {
    const get = as(tokenA);
    const entries = [
      `Patient/${b}`,
      `Observation/${bObs}`,
      `Observation/${bObs}/_history/1`,
      `Observation/${bObs}/_history`,
      `Observation?subject=Patient/${b}`,
      `Patient/${b}/Condition`,
      'Observation?_include=Observation:subject&_count=500',
      `Observation/_history?_count=500`,
      '_history?_count=500',
    ].map((url) => ({ request: { method: 'GET', url } }));
    for (const type of ['batch', 'transaction']) {
      const res = await get('POST', '/', { body: { resourceType: 'Bundle', type, entry: entries } });
      if (type === 'transaction' && res.status !== 200) {
        // a transaction stops at its first failing entry (the 404 of B's Patient): still nothing of B
        expect(res.status).toBe(404);
      } else expect(res.status).toBe(200);
      expectNoLeak(res, [b, bObs]);
      expect(idsIn(res.body).every((id) => !bIds.has(id))).toBe(true);
    }
  });

  test('$meta and $validate mode=delete tell nothing of B', async () => {
    const get = as(tokenA);
    const meta = await get('GET', `/Observation/${bObs}/$meta`);
    expect(meta.status).toBe(404);
    expectNoLeak(meta, [bObs]);
    const typeMeta = await get('GET', '/Observation/$meta');
    expect(typeMeta.status).toBe(200);
    const validate = await get('POST', `/Patient/${a}/$validate?mode=delete`, {
      body: { resourceType: 'Parameters', parameter: [{ name: 'mode', valueCode: 'delete' }] },
    });
    expectNoLeak(validate);
    const theirs = await get('POST', `/Patient/${b}/$validate`, {
      body: { resourceType: 'Parameters', parameter: [{ name: 'mode', valueCode: 'delete' }] },
    });
    expect(theirs.status).toBe(404);
    expectNoLeak(theirs, [b]);
  });

  test('$export at system, patient and group level holds only A’s data; the job answers only to its owner', async () => {
    const get = as(tokenA);
    const group = await server.request('POST', '/Group', {
      body: {
        resourceType: 'Group',
        type: 'person',
        actual: true,
        member: [{ entity: { reference: `Patient/${a}` } }, { entity: { reference: `Patient/${b}` } }],
      },
    });
    expect(group.status).toBe(201);
    for (const p of ['/$export?_type=Patient,Observation,Encounter,Condition', '/Patient/$export', `/Group/${group.body.id}/$export`]) {
      const kick = await get('GET', p, { headers: { prefer: 'respond-async', accept: 'application/fhir+json' } });
      expect(kick.status).toBe(202);
      const status = kick.headers.get('content-location')!;
      const done = await finished(get, status, `export ${p}`);
      expect(done.status).toBe(200);
      expectNoLeak(done);
      // another client's token (or the admin's) does not see the job
      expect((await server.request('GET', status)).status).toBe(404);
      let lines = 0;
      for (const o of done.body.output as Json[]) {
        const file = await get('GET', o.url);
        expect(file.status).toBe(200);
        // the Group of both patients is in A's compartment (member A): it names B's Patient id, nothing of B's data
        expectNoLeak(file, o.type === 'Group' ? [b] : []);
        lines += file.text.split('\n').filter(Boolean).length;
        expect((await server.request('GET', o.url)).status).toBe(404);
      }
      expect(lines).toBeGreaterThan(0);
    }
  });

  test('uploads for $import answer only to the token that sent them', async () => {
    const ndjson = { 'content-type': 'application/fhir+ndjson' };
    const adminUpload = await server.request('POST', '/_bulk/upload', { body: '{"resourceType":"Basic","code":{"text":"x"}}\n', headers: ndjson });
    expect(adminUpload.status).toBe(201);
    const get = as(tokenA);
    expect((await get('GET', adminUpload.body.url)).status).toBe(404);
    expect((await get('DELETE', adminUpload.body.url)).status).toBe(404);
    const imp = await get('POST', '/$import', importOf('Observation', adminUpload.body.url));
    expect(imp.status).toBe(400);
    expect((await server.request('GET', adminUpload.body.url)).status).toBe(200);
    const mine = await get('POST', '/_bulk/upload', { body: '\n', headers: ndjson });
    expect(mine.status).toBe(201);
    expect((await get('GET', mine.body.url)).status).toBe(200);
    expect((await server.request('GET', mine.body.url)).status).toBe(404);
  });

  test('writes: outside the compartment refused (403/404), moving a resource out refused, nothing changed', async () => {
    const req = as(tokenA);
    const bObsBody = (await server.request('GET', `/Observation/${bObs}`)).body;
    // B's resource: unknown to A
    expect((await req('PUT', `/Observation/${bObs}`, { body: { ...bObsBody, status: 'cancelled' } })).status).toBe(404);
    expect((await req('DELETE', `/Observation/${bObs}`)).status).toBe(404);
    const patch = await req('PATCH', `/Observation/${bObs}`, {
      body: [{ op: 'replace', path: '/status', value: 'cancelled' }],
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(patch.status).toBe(404);
    // a new resource in B's compartment: it names B, which A's token may not reference (422, as if B did not exist)
    const created = await req('POST', '/Observation', { body: { ...bObsBody, id: undefined, meta: undefined } });
    expect(created.status).toBe(422);
    expect(created.body.issue[0].code).toBe('not-found');
    // A's own observation moved to B: refused the same way, unchanged
    const aObs = (await server.request('GET', `/Observation?subject=Patient/${a}&_count=1`)).body.entry[0].resource;
    const moved = await req('PUT', `/Observation/${aObs.id}`, { body: { ...aObs, subject: { reference: `Patient/${b}` } } });
    expect(moved.status).toBe(422);
    const movedByPatch = await req('PATCH', `/Observation/${aObs.id}`, {
      body: [{ op: 'replace', path: '/subject/reference', value: `Patient/${b}` }],
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(movedByPatch.status).toBe(422);
    // a resource of A's that names nobody's patient but would fall outside A's compartment: 403
    const orphaned = await req('PUT', `/Observation/${aObs.id}`, { body: { ...aObs, subject: undefined, encounter: undefined } });
    expect(orphaned.status).toBe(403);
    expect(orphaned.body.issue[0].code).toBe('forbidden');
    expect((await server.request('GET', `/Observation/${aObs.id}`)).body.subject.reference).toBe(`Patient/${a}`);
    // conditional delete: matches only A's resources
    const cond = await req('DELETE', `/Observation?_id=${bObs}`);
    expect([200, 204]).toContain(cond.status);
    expect((await server.request('GET', `/Observation/${bObs}`)).status).toBe(200);
    // a transaction writing into B's compartment fails as a whole; nothing of it stays
    const tx = await req('POST', '/', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:0b5b4b1e-0000-4000-8000-000000000001',
            resource: { ...aObs, id: undefined, meta: undefined },
            request: { method: 'POST', url: 'Observation' },
          },
          { resource: { ...bObsBody, status: 'cancelled' }, request: { method: 'PUT', url: `Observation/${bObs}` } },
        ],
      },
    });
    expect(tx.status).toBe(404);
    expectNoLeak(tx, [bObs]);
    expect((await server.request('GET', `/Observation/${bObs}`)).body.status).toBe(bObsBody.status);
  });
});

describeAuth('references in writes tell a restricted token nothing of what it cannot see', () => {
  /** Observations these tests create for A, removed after each test (later tests compare with A's original data). */
  const created: string[] = [];
  afterEach(async () => {
    for (const id of created.splice(0)) expect((await server.request('DELETE', `/Observation/${id}`)).status).toBe(204);
  });
  const kept = (res: FhirResponse): FhirResponse => {
    if (res.status === 201) created.push(res.body.id);
    return res;
  };
  /** A 422's diagnostics with the target's id replaced, to compare a hidden target's answer with a missing one's. */
  const said = (res: FhirResponse, id: string): string => {
    expect(res.status).toBe(422);
    return (res.body.issue as Json[]).map((i) => `${i.code}: ${i.diagnostics}`.replaceAll(id, '{id}')).join('\n');
  };
  const missing = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

  test('a write-only token references its own patient; another patient, and a Practitioner it may not read, answer as a missing id', async () => {
    const writeOnly = as(await issue('launch/patient patient/Observation.c', { patient: a }));
    const obs = (subject: string, performer?: string): Json => ({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'reference check' },
      subject: { reference: subject },
      ...(performer ? { performer: [{ reference: performer }] } : {}),
    });
    expect(kept(await writeOnly('POST', '/Observation', { body: obs(`Patient/${a}`) })).status).toBe(201);
    const hiddenPatient = said(await writeOnly('POST', '/Observation', { body: obs(`Patient/${b}`) }), b);
    const missingPatient = said(await writeOnly('POST', '/Observation', { body: obs(`Patient/${missing}`) }), missing);
    expect(hiddenPatient).toBe(missingPatient);
    expect(hiddenPatient).toContain('none your access token may reference');
    const practitioner = (await server.request('GET', '/Practitioner?_count=1')).body.entry[0].resource.id as string;
    const hiddenPerformer = said(
      await writeOnly('POST', '/Observation', { body: obs(`Patient/${a}`, `Practitioner/${practitioner}`) }),
      practitioner,
    );
    const missingPerformer = said(await writeOnly('POST', '/Observation', { body: obs(`Patient/${a}`, `Practitioner/${missing}`) }), missing);
    expect(hiddenPerformer).toBe(missingPerformer);
  });

  test('patient/*.cruds: B’s encounter answers as a missing one; the network’s practitioners stay referenceable', async () => {
    const req = as(tokenA);
    const bEncounter = (await server.request('GET', `/Encounter?subject=Patient/${b}&_count=1`)).body.entry[0].resource.id as string;
    const obs = (encounter: string): Json => ({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'reference check' },
      subject: { reference: `Patient/${a}` },
      encounter: { reference: `Encounter/${encounter}` },
    });
    const hidden = said(await req('POST', '/Observation', { body: obs(bEncounter) }), bEncounter);
    expect(hidden).toBe(said(await req('POST', '/Observation', { body: obs(missing) }), missing));
    expectNoLeak(await req('POST', '/Observation', { body: obs(bEncounter) }), [bEncounter]);
    const aEncounter = (await server.request('GET', `/Encounter?subject=Patient/${a}&_count=1`)).body.entry[0].resource.id as string;
    const practitioner = (await server.request('GET', '/Practitioner?_count=1')).body.entry[0].resource.id as string;
    const ok = kept(await req('POST', '/Observation', { body: { ...obs(aEncounter), performer: [{ reference: `Practitioner/${practitioner}` }] } }));
    expect(ok.status).toBe(201);
  });

  test('$import by a restricted token words a hidden target’s dangling reference as a missing one’s', async () => {
    const req = as(tokenA);
    const bEncounter = (await server.request('GET', `/Encounter?subject=Patient/${b}&_count=1`)).body.entry[0].resource.id as string;
    const line = (id: string, encounter: string): string =>
      JSON.stringify({
        resourceType: 'Observation',
        id,
        status: 'final',
        code: { text: 'import reference check' },
        subject: { reference: `Patient/${a}` },
        encounter: { reference: `Encounter/${encounter}` },
      });
    const ids = ['leak-import-hidden', 'leak-import-missing'];
    const upload = await req('POST', '/_bulk/upload', {
      body: `${line(ids[0], bEncounter)}\n${line(ids[1], missing)}\n`,
      headers: { 'content-type': 'application/fhir+ndjson' },
    });
    expect(upload.status).toBe(201);
    const kick = await req('POST', '/$import', importOf('Observation', upload.body.url));
    expect(kick.status).toBe(202);
    const status = kick.headers.get('content-location')!;
    const done = await finished(req, status, 'the import');
    expect(done.status).toBe(200);
    created.push(...ids);
    const errors = (done.body.error as Json[]).find((e) => e.type === 'OperationOutcome')!;
    const text = (await req('GET', errors.url)).text;
    const said = text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l).issue as Json[]).map((x) => x.diagnostics as string).join(' '));
    expect(said).toHaveLength(2);
    const shape = (t: string, target: string, id: string): string =>
      t
        .replace(/^Line \d+: /, '')
        .replaceAll(target, '{id}')
        .replace(id, '{obs}');
    expect(shape(said[0], bEncounter, ids[0])).toBe(shape(said[1], missing, ids[1]));
    expect(said[0]).toContain('none your access token may reference');
  });
});

describeAuth('scopes decide the interactions (403) and granular scopes the resources', () => {
  test('scope escalation: a read scope cannot write; a missing scope is named', async () => {
    const reader = as(await issue('patient/*.read', { patient: a }));
    const body = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${a}` } };
    const res = await reader('POST', '/Observation', { body });
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toContain('patient/Observation.c');
    const aObs = (await server.request('GET', `/Observation?subject=Patient/${a}&_count=1`)).body.entry[0].resource;
    expect((await reader('DELETE', `/Observation/${aObs.id}`)).status).toBe(403);
    expect((await reader('PUT', `/Observation/${aObs.id}`, { body: aObs })).status).toBe(403);
    const batch = await reader('POST', '/', {
      body: { resourceType: 'Bundle', type: 'batch', entry: [{ resource: body, request: { method: 'POST', url: 'Observation' } }] },
    });
    expect(batch.status).toBe(200);
    expect(batch.body.entry[0].response.status).toMatch(/^403/);
    const imp = await reader('POST', '/$import', importOf('Observation', `${server.base}/_bulk/upload/x`));
    expect([400, 403]).toContain(imp.status);
  });

  test('a token without a scope for the type: 403 on read, search and history of it', async () => {
    const obsOnly = as(await issue('patient/Observation.rs', { patient: a }));
    for (const p of [`/Condition?patient=${a}`, `/Condition/_history`, `/Patient/${a}`]) {
      const res = await obsOnly('GET', p);
      expect(res.status).toBe(403);
      expect(res.body.issue[0].code).toBe('forbidden');
    }
    expect((await obsOnly('GET', '/Observation?_count=1')).status).toBe(200);
    const readOnly = as(await issue('patient/Observation.r', { patient: a }));
    expect((await readOnly('GET', '/Observation')).status).toBe(403);
    // $reindex acts on every resource: a scoped token may not start it
    expect((await readOnly('POST', '/SearchParameter/x/$reindex')).status).toBe(403);
  });

  // (Bob's Observations are surveys and an exam: the category a granular scope picks here is `survey`)
  test('granular: patient/Observation.rs?category=survey sees only survey results, in both spellings', async () => {
    const adminLab = await server.request('GET', `/Observation?subject=Patient/${a}&category=survey&_summary=count`);
    const adminAll = await server.request('GET', `/Observation?subject=Patient/${a}&_summary=count`);
    expect(adminLab.body.total).toBeGreaterThan(0);
    expect(adminAll.body.total).toBeGreaterThan(adminLab.body.total);
    for (const scope of [
      'patient/Observation.rs?category=survey',
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey',
    ]) {
      const lab = as(await issue(scope, { patient: a }));
      const res = await lab('GET', '/Observation?_count=1000&_total=accurate');
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(adminLab.body.total);
      for (const e of res.body.entry as Json[]) {
        expect(JSON.stringify(e.resource.category)).toContain('"survey"');
      }
      expectNoLeak(res);
    }
  });

  test('user kinds over HTTP: a Practitioner user sees both patients, a RelatedPerson the one it is linked to, a Patient user only themself', async () => {
    const dr = as(await issue('user/Patient.rs', { fhirUser: 'Practitioner/x', sub: 'dr' }));
    expect(idsIn((await dr('GET', '/Patient?_count=10')).body).sort()).toEqual([a, b].sort());
    const rp = await server.request('POST', '/RelatedPerson', { body: { resourceType: 'RelatedPerson', patient: { reference: `Patient/${a}` } } });
    const carer = as(await issue('user/*.rs', { fhirUser: `RelatedPerson/${rp.body.id}`, sub: 'carer' }));
    const seen = await carer('GET', '/Observation?_count=1000&_include=Observation:subject');
    expect(idsIn(seen.body)).toContain(a);
    expect(idsIn(seen.body).every((id) => aIds.has(id))).toBe(true);
    expectNoLeak(seen);
    expect((await carer('GET', `/Patient/${b}`)).status).toBe(404);
    const self = as(await issue('user/*.rs', { fhirUser: `Patient/${b}`, sub: 'pat-b' }));
    const mine = await self('GET', '/Observation?_count=1000');
    expect(idsIn(mine.body).every((id) => bIds.has(id))).toBe(true);
    expect(idsIn(mine.body).length).toBeGreaterThan(0);
  });
});
