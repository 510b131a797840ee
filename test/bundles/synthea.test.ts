/**
 * Every Synthea bundle of ../shared/fixtures loads over HTTP: the two infrastructure batch bundles first
 * (hospitalInformation, then practitionerInformation: conditional creates), then every patient bundle as a
 * transaction (urn:uuid references, conditional references to the infrastructure). Afterwards each patient's
 * $everything holds every resource of its bundle plus the Practitioners/Organizations/Locations it references,
 * with every reference rewritten to a server id that resolves. One loaded database serves the whole file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fixturesAvailable, startServer, syntheaBundles, type FhirResponse, type TestServer } from '../harness';

type Json = Record<string, any>;

const available = fixturesAvailable('Synthea bundle loading');
const run = available ? describe : describe.skip;

interface Loaded {
  file: string;
  bundle: Json;
  status: number;
  response: Json;
}

let server: TestServer;
const infrastructure: Loaded[] = [];
const patients: Loaded[] = [];

function isInfrastructure(file: string): boolean {
  return /hospitalInformation|practitionerInformation/.test(path.basename(file));
}

async function load(file: string): Promise<Loaded> {
  const text = fs.readFileSync(file, 'utf8');
  const res = await server.request('POST', '/', { body: text });
  return { file, bundle: JSON.parse(text) as Json, status: res.status, response: res.body };
}

/** Every `reference` string in a resource. */
function references(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) references(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else references(v, out);
    }
  }
  return out;
}

async function everything(url: string): Promise<Json[]> {
  const entries: Json[] = [];
  let next: string | undefined = url;
  for (let pages = 0; next && pages < 100; pages++) {
    const res: FhirResponse = await server.request('GET', next);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('searchset');
    entries.push(...(res.body.entry ?? []));
    next = res.body.link?.find((l: Json) => l.relation === 'next')?.url;
  }
  return entries;
}

run('Synthea fixtures', () => {
  beforeAll(async () => {
    server = await startServer();
    const files = syntheaBundles();
    const infra = files.filter(isInfrastructure).sort((a, b) => Number(/practitioner/.test(a)) - Number(/practitioner/.test(b)));
    for (const f of infra) infrastructure.push(await load(f));
    const queue = files.filter((f) => !isInfrastructure(f));
    const loaded = new Map<string, Loaded>();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let f = queue.shift(); f; f = queue.shift()) loaded.set(f, await load(f));
      }),
    );
    patients.push(...files.filter((f) => loaded.has(f)).map((f) => loaded.get(f)!));
  }, 180_000);
  afterAll(async () => server?.close());

  test('the infrastructure batches load: every conditional create succeeds', () => {
    expect(infrastructure.map((l) => path.basename(l.file))).toEqual([
      expect.stringMatching(/^hospitalInformation/),
      expect.stringMatching(/^practitionerInformation/),
    ]);
    for (const l of infrastructure) {
      expect(l.status).toBe(200);
      expect(l.response.type).toBe('batch-response');
      expect(l.response.entry).toHaveLength(l.bundle.entry.length);
      const failed = l.response.entry.filter((e: Json) => !/^20[01] /.test(e.response.status));
      expect(failed).toEqual([]);
    }
  });

  test('every patient bundle loads as one transaction', () => {
    expect(patients.length).toBeGreaterThanOrEqual(10);
    for (const l of patients) {
      expect({ file: path.basename(l.file), status: l.status, issue: l.response.issue }).toEqual({
        file: path.basename(l.file),
        status: 200,
        issue: undefined,
      });
      expect(l.response.type).toBe('transaction-response');
      expect(l.response.entry).toHaveLength(l.bundle.entry.length);
      for (const e of l.response.entry) expect(e.response.status).toBe('201 Created');
    }
  });

  test('reloading the infrastructure finds every resource: conditional creates answer 200 and create nothing', async () => {
    // A few smart-on-fhir patient bundles carry their own copy of a hospital (same identifier): those criteria now
    // match two Organizations, and a batch answers that entry alone with 412.
    const duplicated = new Set(
      patients.flatMap((l) =>
        l.bundle.entry
          .filter((e: Json) => e.resource.resourceType === 'Organization')
          .flatMap((e: Json) => (e.resource.identifier ?? []).map((i: Json) => `${i.system}|${i.value}`)),
      ),
    );
    const before = (await server.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM resource')).rows[0].n;
    const again = await load(infrastructure[0].file);
    expect(again.status).toBe(200);
    again.response.entry.forEach((e: Json, i: number) => {
      const criteria = again.bundle.entry[i].request.ifNoneExist.replace(/^identifier=/, '');
      if (duplicated.has(criteria)) {
        expect(e.response.status).toBe('412 Precondition Failed');
        expect(e.response.outcome.issue[0].code).toBe('multiple-matches');
      } else expect(e.response.status).toBe('200 OK');
    });
    expect((await server.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM resource')).rows[0].n).toBe(before);
  });

  test("each patient's $everything holds its bundle and what it references, with server references that resolve", async () => {
    const known = new Set<string>();
    for (const l of patients) {
      const ids: string[] = l.response.entry.map((e: Json) => e.response.location.split('/_history')[0]);
      const patientRef = ids.find((r) => r.startsWith('Patient/'))!;
      const entries = await everything(`/${patientRef}/$everything?_count=100`);
      const byRef = new Map<string, Json>(entries.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e]));
      expect(byRef.size).toBe(entries.length); // no resource twice across pages
      expect(entries[0].resource.resourceType).toBe('Patient');
      for (const r of ids)
        expect({ bundle: path.basename(l.file), missing: byRef.has(r) ? undefined : r }).toEqual({
          bundle: path.basename(l.file),
          missing: undefined,
        });

      // The conditional references of the bundle resolved to the infrastructure, which $everything includes.
      const conditional = new Set(l.bundle.entry.flatMap((e: Json) => references(e.resource)).filter((r: string) => r.includes('?')));
      for (const c of conditional as Set<string>) {
        const [type, query] = c.split('?');
        const value = decodeURIComponent(query.replace(/^identifier=/, '')).split('|')[1];
        const target = entries.find((e) => e.resource.resourceType === type && e.resource.identifier?.some((i: Json) => i.value === value));
        expect({ conditional: c, found: Boolean(target) }).toEqual({ conditional: c, found: true });
        expect(target!.search.mode).toBe('include');
      }
      for (const type of l.bundle.entry.some((e: Json) => references(e.resource).some((r: string) => r.startsWith('Practitioner')))
        ? ['Practitioner', 'Organization', 'Location']
        : []) {
        expect(entries.some((e) => e.resource.resourceType === type)).toBe(true);
      }

      for (const e of entries) {
        for (const ref of references(e.resource)) {
          expect(ref).not.toMatch(/^urn:(uuid|oid):/);
          expect(ref).not.toContain('?');
          if (ref.startsWith('#')) continue;
          expect(ref).toMatch(/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/);
          if (byRef.has(ref) || known.has(ref)) continue;
          const res = await server.request('GET', `/${ref}`);
          expect({ ref, status: res.status }).toEqual({ ref, status: 200 });
          known.add(ref);
        }
      }
    }
  });

  test('$everything: _type, _since, paging and totals; Encounter/$everything', async () => {
    const l = patients[0];
    const patientRef = l.response.entry.map((e: Json) => e.response.location.split('/_history')[0]).find((r: string) => r.startsWith('Patient/'));
    const all = await server.request('GET', `/${patientRef}/$everything?_count=1000`);
    expect(all.body.total).toBe(all.body.entry.length);
    const pages = await everything(`/${patientRef}/$everything?_count=7`);
    expect(pages.map((e) => e.fullUrl)).toEqual(all.body.entry.map((e: Json) => e.fullUrl));

    const encounters = await server.request('GET', `/${patientRef}/$everything?_type=Encounter,Patient&_count=1000`);
    const types = new Set(encounters.body.entry.map((e: Json) => e.resource.resourceType));
    expect([...types].sort()).toEqual(['Encounter', 'Patient']);

    const future = await server.request('GET', `/${patientRef}/$everything?_since=2999-01-01`);
    expect(future.body.total).toBe(0);
    const past = await server.request('GET', `/${patientRef}/$everything?_since=2000-01-01&_count=0`);
    expect(past.body.total).toBe(all.body.total);

    const encounterRef = l.response.entry.map((e: Json) => e.response.location.split('/_history')[0]).find((r: string) => r.startsWith('Encounter/'));
    const enc = await everything(`/${encounterRef}/$everything?_count=50`);
    const encTypes = new Set(enc.map((e) => e.resource.resourceType));
    expect(enc[0].resource.resourceType).toBe('Encounter');
    expect(encTypes.has('Patient')).toBe(true); // referenced by the encounter
    for (const e of enc.filter((x) => x.search.mode === 'match').slice(1)) {
      expect(references(e.resource)).toContain(encounterRef);
    }

    expect((await server.request('GET', '/Patient/no-such-patient/$everything')).status).toBe(404);
    expect((await server.request('GET', `/${patientRef}/$everything?start=2000-01-01`)).status).toBe(400);
    expect((await server.request('GET', `/${patientRef}/$everything?_type=Nonsense`)).status).toBe(400);
    expect((await server.request('GET', `/Observation/x/$everything`)).status).toBe(404);
  });
});
