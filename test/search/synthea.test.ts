/**
 * Search over realistic data: a Synthea patient's whole record (../shared/fixtures), loaded by PUT, searched the
 * way an EHR or registry would — with expected counts computed from the fixture itself — plus the write-time
 * extraction cost per resource (µs) for a Synthea Patient, Encounter and Observation.
 */
import { fixturesAvailable, startServer, type TestServer } from '../harness';
import { syntheaResources } from '../fixtures';
import { extractIndexRows } from '../../server/fhir/search/extract';
import { parseFhirJson, type JsonObject } from '../../server/fhir/json';

type Json = Record<string, any>;

const HAVE = fixturesAvailable('search tests on Synthea data');
const d = HAVE ? describe : describe.skip;

let server: TestServer;
const resources: Json[] = HAVE ? syntheaResources() : [];
const of = (type: string) => resources.filter((r) => r.resourceType === type);

beforeAll(async () => {
  if (!HAVE) return;
  server = await startServer();
  for (const r of resources) {
    const res = await server.request('PUT', `/${r.resourceType}/${r.id}`, { body: r });
    if (res.status !== 201) throw new Error(`${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
  }
}, 120_000);
afterAll(async () => server?.close());

async function total(query: string): Promise<number> {
  const res = await server.request('GET', `${query}${query.includes('?') ? '&' : '?'}_summary=count`);
  expect(res.status).toBe(200);
  return res.body.total as number;
}

d('Synthea patient record', () => {
  test('patient by identifier, name, birthdate, gender, address', async () => {
    const p = of('Patient')[0];
    const ident = p.identifier[0];
    expect(await total(`/Patient?identifier=${encodeURIComponent(`${ident.system}|${ident.value}`)}`)).toBe(1);
    expect(await total(`/Patient?family=${encodeURIComponent(p.name[0].family.slice(0, 3).toUpperCase())}`)).toBe(1);
    expect(await total(`/Patient?birthdate=${p.birthDate}&gender=${p.gender}`)).toBe(1);
    expect(await total(`/Patient?address-city=${encodeURIComponent(p.address[0].city)}`)).toBe(1);
  });

  test('clinical data by code, date, patient and chains', async () => {
    const p = of('Patient')[0];
    const obs = of('Observation');
    const code = obs[0].code.coding[0];
    const sameCode = obs.filter((o) => o.code.coding.some((c: Json) => c.system === code.system && c.code === code.code)).length;
    expect(await total(`/Observation?code=${encodeURIComponent(`${code.system}|${code.code}`)}`)).toBe(sameCode);
    expect(await total(`/Observation?patient=Patient/${p.id}`)).toBe(obs.length);
    expect(await total(`/Observation?subject.family=${encodeURIComponent(p.name[0].family)}`)).toBe(obs.length);
    const year = obs[0].effectiveDateTime.slice(0, 4);
    const inYear = obs.filter((o) => o.effectiveDateTime?.startsWith(year)).length;
    expect(await total(`/Observation?date=${year}`)).toBe(inYear);
    const vitals = obs.filter((o) => o.category?.some((c: Json) => c.coding?.some((x: Json) => x.code === 'vital-signs'))).length;
    expect(await total('/Observation?category=vital-signs')).toBe(vitals);
    expect(await total(`/Encounter?patient=${p.id}`)).toBe(of('Encounter').length);
    expect(await total(`/Patient/${p.id}/Condition`)).toBe(of('Condition').length);
    expect(await total(`/Patient/${p.id}/MedicationRequest`)).toBe(of('MedicationRequest').length);
  });

  test('quantities with UCUM units, composites, _has, _include', async () => {
    const withQ = of('Observation').filter((o) => o.valueQuantity?.system === 'http://unitsofmeasure.org');
    const o = withQ[0];
    const v = o.valueQuantity;
    const sameValue = withQ.filter((x) => x.valueQuantity.code === v.code && Math.abs(x.valueQuantity.value - v.value) < 1e-9).length;
    expect(await total(`/Observation?value-quantity=${v.value}|http://unitsofmeasure.org|${encodeURIComponent(v.code)}`)).toBeGreaterThanOrEqual(
      sameValue,
    );
    const code = o.code.coding[0].code;
    expect(await total(`/Observation?code-value-quantity=${encodeURIComponent(`${code}$ge0`)}`)).toBeGreaterThanOrEqual(1);
    expect(await total(`/Patient?_has:Observation:patient:code=${code}`)).toBe(1);
    const enc = of('Encounter')[0];
    const res = await server.request('GET', `/Encounter?_id=${enc.id}&_include=Encounter:subject&_revinclude=Observation:encounter`);
    const included = res.body.entry.filter((e: Json) => e.search.mode === 'include');
    const obsOfEnc = of('Observation').filter((x) => x.encounter?.reference === `Encounter/${enc.id}`).length;
    expect(included.length).toBe(1 + obsOfEnc);
  });

  test('sorted and paged: every encounter exactly once, newest first', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/Encounter?_sort=-date&_count=10';
    while (url) {
      const res: { body: Json } = await server.request('GET', url);
      seen.push(...res.body.entry.map((e: Json) => e.resource.period.start as string));
      url = (res.body.link as Json[]).find((l) => l.relation === 'next')?.url;
    }
    expect(seen).toHaveLength(of('Encounter').length);
    const times = seen.map((s) => Date.parse(s));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});

d('extraction cost', () => {
  test('µs per resource for a Synthea Patient, Encounter and Observation', () => {
    const out: Record<string, string> = {};
    for (const type of ['Patient', 'Encounter', 'Observation']) {
      const r = parseFhirJson(JSON.stringify(of(type)[0])) as JsonObject;
      const opts = { timeZone: 'UTC', baseUrl: 'http://localhost/fhir' };
      for (let i = 0; i < 300; i++) extractIndexRows(r, opts);
      const n = 1000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) extractIndexRows(r, opts);
      const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
      const rows = Object.values(extractIndexRows(r, opts)).reduce((a, t) => a + t.length, 0);
      out[type] = `${us.toFixed(1)} µs (${rows} index rows)`;
      expect(us).toBeLessThan(5000); // loose: CI machines run test files in parallel
    }
    console.log('extraction per resource:', out);
  });
});
