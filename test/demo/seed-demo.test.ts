/**
 * `arogya seed-demo` end to end on the compiled CLI (`node dist/server/main.js seed-demo`; build first) into a fresh
 * database that a test server (HMS workflows on) serves: the counts of the network, dispenses and bills for the
 * concluded visits (the workflows ran for the seed's writes), shortage and stock below reorder level, today's
 * queue, profile conformance of what it wrote, the printed credentials (a real sign-in with the demo app and a
 * user, PKCE), and a second run that writes no version at all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Browser, authorizeUrl, pkce, tokenRequest, walkPages } from '../auth/flow-driver';
import { dayIn } from '../../server/cli/demo-data';
import { freePort } from '../../server/database/embedded';
import { type CliRun, type Json, type TestServer, TEST_AUTH, runCli, startServer } from '../harness';
import { killIfRunning, procAuth, start, waitReady } from '../server/processes';

let server: TestServer;
let dataDir: string;
let first: CliRun;
/** When the first seed started: bills issued since then were issued by it. */
let seededAt: number;
/** When the first seed had finished: a visit ending between seededAt and this may have been either side of "now". */
let seedDoneAt: number;

const seed = (): Promise<CliRun> =>
  runCli(['seed-demo'], { DATABASE_URL: server.databaseUrl, AROGYA_DATA_DIR: dataDir, AROGYA_BASE_URL: server.base, AROGYA_AUTH: TEST_AUTH });

async function total(query: string): Promise<number> {
  const res = await server.request('GET', `/${query}${query.includes('?') ? '&' : '?'}_summary=count`);
  if (res.status !== 200) throw new Error(`${query}: ${res.status} ${res.text}`);
  return res.body.total as number;
}

async function all(query: string): Promise<Json[]> {
  const out: Json[] = [];
  let res = await server.request('GET', `/${query}${query.includes('?') ? '&' : '?'}_count=1000`);
  for (;;) {
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${res.text}`);
    out.push(...(res.body.entry ?? []).map((e: Json) => e.resource));
    const next = (res.body.link ?? []).find((l: Json) => l.relation === 'next')?.url;
    if (!next) return out;
    res = await server.request('GET', next);
  }
}

const ext = (r: Json, name: string): number | undefined =>
  r.extension?.find((e: Json) => e.url === `https://arogya.dev/fhir/StructureDefinition/${name}`)?.valueQuantity?.value;

beforeAll(async () => {
  server = await startServer({ workflows: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-demo-'));
  seededAt = Date.now();
  first = await seed();
  seedDoneAt = Date.now();
}, 600_000);

afterAll(async () => {
  await server?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the seed succeeds and prints the demo app and the users with their passwords', () => {
  expect({ code: first.code, stderr: first.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.stringContaining('visits:') });
  expect(first.stdout).toContain('client_id:     arogya-demo-app');
  for (const u of ['dr.kavya.menon', 'dr.vikram.kulkarni', 'patient.demo-pat-001'])
    expect(first.stdout).toMatch(new RegExp(`${u.replace(/\./g, '\\.')}\\s+password: \\S{16}`));
  const file = path.join(dataDir, 'demo-credentials.json');
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
});

test('3 hospitals of one chain, each with a dispensary and stock; 10 doctors; 200 patients with NHIDs', async () => {
  const hospitals = await all('Organization?partof=Organization/demo-chain');
  expect(hospitals.map((h) => h.address[0].city).sort()).toEqual(['Bengaluru', 'Hyderabad', 'Pune']);
  for (const h of hospitals) {
    expect(h.identifier.find((i: Json) => i.system === 'https://facility.abdm.gov.in')?.value).toMatch(/^IN\d{10}$/);
    const pharmacies = await all(`Location?organization=Organization/${h.id}&type=http://terminology.hl7.org/CodeSystem/v3-RoleCode|PHARM`);
    expect(pharmacies).toHaveLength(1);
    const stock = await all(`Basic?code=https://arogya.dev/fhir/CodeSystem/hms-basic-type|stock-item&stock-location=Location/${pharmacies[0].id}`);
    expect(stock.length).toBeGreaterThanOrEqual(10);
  }
  expect(await total('Practitioner?identifier=https://hpr.abdm.gov.in|')).toBe(10);
  expect(await total('PractitionerRole')).toBe(12);
  const patients = await all('Patient');
  expect(patients).toHaveLength(200);
  const nhids = patients.map((p) => p.identifier.find((i: Json) => i.system === 'https://healthid.abdm.gov.in')?.value);
  expect(new Set(nhids).size).toBe(200);
  for (const n of nhids) expect(n).toMatch(/^\d{2}-\d{4}-\d{4}-\d{4}$/);
  // found by the registry search in either form
  const bare = String(nhids[7]).replace(/-/g, '');
  expect(await total(`Patient?identifier=https://healthid.ndhm.gov.in|${bare}`)).toBe(1);
  // a consultation fee for every doctor at every hospital they work at, and one per hospital
  expect(await total('ChargeItemDefinition?url:below=https://arogya.dev/fhir/ChargeItemDefinition/consult-')).toBe(15);
});

test('every concluded visit has its dispenses and one issued invoice; shortages are on hold; some visits are today', async () => {
  const finished = await all('Encounter?status=finished&_elements=id');
  const open = await total('Encounter?status=in-progress');
  expect(finished.length).toBeGreaterThan(200);
  expect(open).toBeGreaterThan(0);
  const today = dayIn(new Date(), server.config.timeZone);
  // today's queue (an open visit's period has no end: `ge`, as `eq` needs the whole period within the day)
  expect(await total(`Encounter?date=${today}&status=finished`)).toBeGreaterThan(0);
  expect(await total(`Encounter?date=ge${today}&status=in-progress`)).toBeGreaterThan(0);

  const invoices = await all('Invoice');
  const keys = new Set(invoices.map((i) => i.identifier.find((x: Json) => x.system === 'https://arogya.dev/fhir/sid/invoice-key')?.value));
  for (const e of finished) expect(keys.has(`Encounter/${e.id}`)).toBe(true);
  expect(invoices.length).toBe(finished.length);
  expect(invoices.filter((i) => i.status !== 'issued')).toEqual([]);
  for (const i of invoices)
    expect(i.identifier.find((x: Json) => x.system === 'https://arogya.dev/fhir/sid/bill-id')?.value).toMatch(/^IN\d{10}\/\d{4}\/\d{6}$/);
  // lab tests are billed (a report line), medicines carry CGST and SGST
  expect(await total('ChargeItem?code=https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-billing-codes|04')).toBeGreaterThan(10);
  const withMedicine = invoices.find((i) => i.totalPriceComponent?.some((c: Json) => c.code?.coding?.[0]?.code === 'CGST'));
  expect(withMedicine).toBeDefined();

  expect(await total('MedicationDispense?status=completed')).toBeGreaterThan(100);
  expect(await total('MedicationDispense?status=on-hold')).toBeGreaterThan(0);
  expect(await total('SupplyRequest')).toBeGreaterThan(0);
  // dispenses only for concluded visits
  for (const d of await all('MedicationDispense?_elements=context')) {
    const enc = await server.request('GET', `/${d.context.reference}`);
    expect(enc.body.status).toBe('finished');
  }
});

test("bills of past visits are dated at the visit's end (the seed's correction, noted); right after seeding only today's visits are billed today", async () => {
  const visits = new Map((await all('Encounter?status=finished')).map((e) => [`Encounter/${e.id}`, e]));
  const pastVisit = (ref: string) => Date.parse(visits.get(ref)?.period.end) < seededAt;
  const invoices = await all('Invoice');
  let past = 0;
  for (const i of invoices) {
    const visit = i.identifier.find((x: Json) => x.system === 'https://arogya.dev/fhir/sid/invoice-key').value as string;
    const end = visits.get(visit)?.period.end as string;
    const notes = (i.note ?? []).map((n: Json) => n.text).join(' ');
    // a visit that ended while the seed ran was past or still to end depending on when the seed reached it
    if (Date.parse(end) >= seededAt && Date.parse(end) <= seedDoneAt) continue;
    if (pastVisit(visit)) {
      past++;
      // concluded after the fact: issued during the seed (the workflow's "now"), then dated at the visit's end
      expect({ visit, date: i.date, note: notes }).toEqual({
        visit,
        date: end,
        note: expect.stringContaining('Demo history: dated at the end of the visit'),
      });
      const issued = /issued it at (\S+)\.$/.exec(notes)?.[1];
      expect(Date.parse(issued ?? '')).toBeGreaterThanOrEqual(seededAt - 1000);
    } else {
      // today's visits still to end when the seed concluded them keep the date it billed them
      expect({ visit, issuedBySeed: Date.parse(i.date) >= seededAt - 1000, note: notes }).toEqual({ visit, issuedBySeed: true, note: '' });
    }
  }
  expect(past).toBeGreaterThan(200);
  for (const c of await all('ChargeItem')) {
    const visit = c.context.reference as string;
    if (pastVisit(visit)) expect({ visit, entered: c.enteredDate }).toEqual({ visit, entered: visits.get(visit)?.period.end });
  }

  // what the hospital dashboard counts as invoices issued today (issuer, date today in the server's zone)
  const today = dayIn(new Date(), server.config.timeZone);
  const tomorrow = new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  let billedToday = 0;
  for (const h of await all('Organization?partof=Organization/demo-chain')) {
    const todays = await total(`Encounter?service-provider=Organization/${h.id}&date=${today}&status=finished`);
    const issued = await total(`Invoice?issuer=Organization/${h.id}&date=ge${today}&date=lt${tomorrow}&status=issued,balanced`);
    expect({ hospital: h.id, issued }).toEqual({ hospital: h.id, issued: todays });
    billedToday += issued;
  }
  expect(billedToday).toBeGreaterThan(0);
  expect(billedToday).toBeLessThan(invoices.length / 4);
});

test('stock: some items below their reorder level; handed-over medicines left the shelf', async () => {
  const items = await all('Basic?code=https://arogya.dev/fhir/CodeSystem/hms-basic-type|stock-item');
  const below = items.filter((i) => (ext(i, 'stock-on-hand') ?? 0) - (ext(i, 'stock-reserved') ?? 0) < (ext(i, 'stock-reorder-level') ?? 0));
  expect(below.length).toBeGreaterThan(0);
  const metformin = (await server.request('GET', '/Basic/demo-stock-blr-metformin-a')).body;
  expect(ext(metformin, 'stock-on-hand')).toBeLessThan(800); // seeded with 800, FEFO takes this batch first
});

test('lab reports and vital signs with reference ranges', async () => {
  const reports = await all('DiagnosticReport?code=http://loinc.org|4548-4&_include=DiagnosticReport:result');
  const hba1c = reports.find((r) => r.resourceType === 'Observation');
  expect(hba1c?.referenceRange[0]).toEqual({
    low: { value: 4, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    high: { value: 5.6, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
  });
  expect(await total('Observation?code=http://loinc.org|85354-9')).toBeGreaterThan(200);
  expect(await total('Observation?code=http://loinc.org|29463-7')).toBeGreaterThan(200);
});

test('what the seed wrote claims the HMS profiles and validates against them', async () => {
  const samples = [
    'Organization/demo-hosp-blr',
    'Location/demo-pharm-pune',
    'Practitioner/demo-doc-03',
    'Patient/demo-pat-042',
    'Basic/demo-stock-hyd-metformin-b',
    'ChargeItemDefinition/demo-price-metformin',
    'ChargeItemDefinition/demo-price-lab-hba1c',
  ];
  const enc = (await all('Encounter?status=finished&_count=1&_elements=id'))[0].id as string;
  const mr = (await all(`MedicationRequest?encounter=Encounter/${enc}`))[0].id as string;
  const obs = (await all(`Observation?encounter=Encounter/${enc}`))[0].id as string;
  samples.push(`Encounter/${enc}`, `MedicationRequest/${mr}`, `Observation/${obs}`);
  const report = (await all('DiagnosticReport?_count=1'))[0].id as string;
  samples.push(`DiagnosticReport/${report}`);
  for (const ref of samples) {
    const resource = (await server.request('GET', `/${ref}`)).body;
    expect({ ref, profile: resource.meta.profile?.[0] }).toEqual({
      ref,
      profile: expect.stringMatching(/^https:\/\/arogya\.dev\/fhir\/StructureDefinition\/hms-/),
    });
    const res = await server.request('POST', `/${resource.resourceType}/$validate?profile=${encodeURIComponent(resource.meta.profile[0])}`, {
      body: resource,
    });
    const errors = (res.body.issue ?? []).filter((i: Json) => i.severity === 'error' || i.severity === 'fatal');
    expect({ ref, status: res.status, errors }).toEqual({ ref, status: 200, errors: [] });
  }
});

test('the printed credentials work: the demo app signs a doctor and the patient in (authorization code + PKCE)', async () => {
  if (TEST_AUTH !== 'smart') return;
  const password = (user: string) => new RegExp(`${user.replace(/\./g, '\\.')}\\s+password: (\\S+)`).exec(first.stdout)?.[1] as string;
  const clientId = /client_id:\s+(\S+)/.exec(first.stdout)?.[1] as string;
  const redirectUri = /redirect_uris:\s+(\S+)/.exec(first.stdout)?.[1] as string;

  for (const [username, scope] of [
    ['dr.kavya.menon', 'openid fhirUser user/Patient.rs user/Encounter.rs'],
    ['patient.demo-pat-001', 'openid fhirUser launch/patient patient/Patient.rs patient/Encounter.rs'],
  ]) {
    const { verifier, challenge } = pkce();
    const url = authorizeUrl(server, {
      client_id: clientId,
      redirect_uri: redirectUri,
      scope,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const page = await walkPages(new Browser(), url, { username, password: password(username) });
    expect({ username, status: page.status }).toEqual({ username, status: 302 });
    const code = new URL(page.location as string).searchParams.get('code') as string;
    expect(code).toBeTruthy();
    const tok = await tokenRequest(server, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: clientId,
      code_verifier: verifier,
    });
    expect(tok.status).toBe(200);
    const res = await fetch(`${server.base}/Encounter?_summary=count`, { headers: { authorization: `Bearer ${tok.body.access_token}` } });
    expect(res.status).toBe(200);
    const seen = ((await res.json()) as Json).total as number;
    if (username.startsWith('patient')) {
      expect(tok.body.patient).toBe('demo-pat-001');
      expect(seen).toBeGreaterThan(0);
      expect(seen).toBeLessThanOrEqual(2); // their own visits only
    } else expect(seen).toBeGreaterThan(200); // a doctor sees the network
  }
}, 60_000);

test('a second run writes nothing: no new version of anything, same credentials', async () => {
  const before = new Date(Date.now() - 1000).toISOString();
  const second = await seed();
  expect({ code: second.code, stderr: second.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
  expect(second.stdout).toContain('resources written now: 0;');
  const history = await server.request('GET', `/_history?_since=${encodeURIComponent(before)}&_count=10`);
  expect(history.status).toBe(200);
  expect(history.body.entry ?? []).toEqual([]);
  for (const u of ['dr.kavya.menon', 'patient.demo-pat-001']) {
    const pw = (run: CliRun) => new RegExp(`${u.replace(/\./g, '\\.')}\\s+password: (\\S+)`).exec(run.stdout)?.[1];
    expect(pw(second)).toBe(pw(first));
  }
}, 600_000);

test('serve --demo seeds (here: finds everything in place) and then serves', async () => {
  const port = await freePort();
  const proc = start(['serve', '--demo'], {
    DATABASE_URL: server.databaseUrl,
    AROGYA_DATA_DIR: dataDir,
    PORT: String(port),
    AROGYA_BASE_URL: `http://127.0.0.1:${port}/fhir`,
    AROGYA_WORKERS: '1',
    LOG_LEVEL: 'warn',
  });
  try {
    await waitReady(port, proc);
    expect(proc.output()).toContain('resources written now: 0;');
    expect(proc.output()).toContain('client_id:     arogya-demo-app');
    const res = await procAuth(`http://127.0.0.1:${port}`).fetch(`http://127.0.0.1:${port}/fhir/Patient/demo-pat-001`);
    expect(res.status).toBe(200);
  } finally {
    proc.child.kill('SIGTERM');
    await proc.exited;
    await killIfRunning(proc);
  }
}, 300_000);
