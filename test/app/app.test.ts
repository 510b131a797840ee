/**
 * The clinician app (/app) end to end in headless Chromium, against the demo network: `arogya seed-demo` (the real
 * CLI) writes it into the test server's database once for this file (HMS workflows on), and the tests sign in as
 * the README's *App* section tells a new user to (its URL, its demo doctor, the password the seed printed). Then:
 * SMART launches (standalone with the finder, EHR launch of a patient, patient-scoped launches), the finder on the
 * demo patients (NHID in both forms, name with paging, phone), a demo patient's timeline and HbA1c chart, a demo
 * patient with a long past (1,000+ resources: first view measured and printed), the demo hospital dashboard
 * changing live when one of the demo's open visits is concluded through the API, and axe-core on every screen.
 * Screenshots go to test-artefacts/app/.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { HOSPITALS, type PatientSpec, hospitalId } from '../../server/cli/demo-data';
import { createLaunch } from '../auth/flow-driver';
import { type Json, TEST_AUTH, type TestServer, startServer } from '../harness';
import { CHROMIUM, chromiumAvailable, ensureAppBuilt, screenshot, seriousViolations, signIn } from './browser';
import { type SeededDemo, addLongHistory, diabeticPatients, seedDemoNetwork } from './demo';

const describeBrowser = TEST_AUTH === 'smart' && chromiumAvailable() ? describe : describe.skip;
const LAPTOP = { width: 1366, height: 900 };
const TABLET = { width: 820, height: 1180 };
const README = path.resolve(__dirname, '..', '..', 'README.md');
const SID = 'https://arogya.dev/fhir/sid';
const STOCK_ITEM = 'https://arogya.dev/fhir/CodeSystem/hms-basic-type|stock-item';

/** The README's demo sign-in (section *App*): the page a new user opens and the demo user they sign in as. */
function readmeDemoLogin(): { path: string; username: string } {
  const text = fs.readFileSync(README, 'utf8').replace(/\s+/g, ' ');
  const m = /open `http:\/\/localhost:8080(\/app\/[^`]+)` and sign in as `([^`]+)` with the password the seed printed/.exec(text);
  if (!m) throw new Error('README: the App section no longer says how to sign in to the app on the demo network');
  return { path: m[1], username: m[2] };
}

const hyphenated = (n: string) => n.replace(/^(\d{2})(\d{4})(\d{4})(\d{4})$/, '$1-$2-$3-$4');
const nameOf = (p: PatientSpec) => p.resource.name[0].text as string;

describeBrowser('clinician app in Chromium, on the demo network', () => {
  let server: TestServer;
  let browser: Browser;
  let demo: SeededDemo;
  let login: { path: string; username: string };
  let doctor: { username: string; password: string };
  /** A demo patient with two diabetes reviews (HbA1c reports with the lab's reference range). */
  let reviewed: PatientSpec;
  /** A demo patient given years of earlier visits: well over 1,000 resources. */
  let longPast: PatientSpec;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    ensureAppBuilt();
    server = await startServer({ workflows: true });
    let t = Date.now();
    demo = await seedDemoNetwork(server);
    console.log(`demo network seeded in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    login = readmeDemoLogin();
    doctor = { username: login.username, password: demo.password(login.username) };
    [reviewed] = diabeticPatients(demo, 2);
    longPast = diabeticPatients(demo, 1).find((p) => p.id !== reviewed?.id && p.home.key === 'blr')!;
    if (!reviewed || !longPast) throw new Error('the demo network has no patient with two diabetes reviews, or no diabetic patient in Bengaluru');
    t = Date.now();
    const written = await addLongHistory(server, longPast.id);
    console.log(`long past of ${longPast.id}: ${written} resources written in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 600_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.close();
    if (demo) fs.rmSync(demo.dataDir, { recursive: true, force: true });
  });

  async function newPage(viewport = LAPTOP): Promise<Page> {
    const context = await browser.newContext({ viewport, timezoneId: server.config.timeZone });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (m) => {
      if ((m.type() === 'error' && !/Failed to load resource/.test(m.text())) || /Content Security Policy/i.test(m.text()))
        console.log(`browser console: ${m.text()}`);
    });
    page.on('pageerror', (e) => console.log(`browser page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) console.log(`browser got ${r.status()} for ${r.request().method()} ${new URL(r.url()).pathname}`);
    });
    return page;
  }

  async function checkScreen(page: Page, name: string): Promise<void> {
    expect({ screen: name, violations: await seriousViolations(page, name) }).toEqual({ screen: name, violations: [] });
    await screenshot(page, name);
  }

  const total = async (query: string): Promise<number> => {
    const res = await server.request('GET', `/${query}&_summary=count`);
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${res.text}`);
    return res.body.total as number;
  };

  /** What the app holds in sessionStorage (fhirclient's state): the token response of its launch. */
  const appToken = (page: Page) =>
    page.evaluate(() => {
      const { sessionStorage } = globalThis as any;
      const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""');
      return JSON.parse(sessionStorage.getItem(key) ?? '{}').tokenResponse as { access_token: string; scope: string; patient?: string };
    });

  test('the app is served with its CSP; the public client is registered with its redirect and launch URLs', async () => {
    const res = await fetch(`${server.origin}/app/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toContain('<script type="module"');
    expect((await fetch(`${server.origin}/app/../package.json`)).status).toBe(404);
    // encoded dot segments reach the server as they are (fetch would normalise them): still nothing outside dist/app
    for (const p of ['/app/..%2f..%2fpackage.json', '/app/%2e%2e/%2e%2e/package.json', '/app/assets/..%5c..%5cpackage.json']) {
      const status = await new Promise<number>((resolve, reject) =>
        http
          .get(`${server.origin}${p}`, { agent: false }, (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          })
          .on('error', reject),
      );
      expect({ p, status }).toEqual({ p, status: 404 });
    }
    const bare = await fetch(`${server.origin}/app`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([302, '/app/']);
    const { rows } = await server.pool.query('SELECT auth_method, redirect_uris, launch_uri FROM auth_client WHERE client_id = $1', ['arogya-web']);
    expect(rows).toEqual([{ auth_method: 'none', redirect_uris: [`${server.origin}/app/`], launch_uri: `${server.origin}/app/launch.html` }]);
  });

  test("the README's demo sign-in → finder: a demo patient by NHID in either form, by name with paging, by phone; their timeline and HbA1c chart", async () => {
    // exactly as the README says: that page, that user, the password the seed printed (and kept in the data dir)
    const kept = JSON.parse(fs.readFileSync(path.join(demo.dataDir, 'demo-credentials.json'), 'utf8'));
    expect(kept.users[doctor.username]).toBe(doctor.password);
    const page = await newPage();
    await page.goto(`${server.origin}${login.path}`);
    await signIn(page, doctor);
    await page.getByRole('heading', { name: 'Find a patient' }).waitFor();
    const fhirUser = new RegExp(`^\\s+${doctor.username.replace(/\./g, '\\.')}\\s+password: \\S+\\s+(Practitioner/\\S+)`, 'm').exec(
      demo.run.stdout,
    )![1];
    await page.getByText(`Signed in as ${(await server.request('GET', `/${fhirUser}`)).body.name[0].text}`).waitFor();
    await checkScreen(page, 'finder-empty');

    // NHID as the demo stores it (91-NNNN-NNNN-NNNN), then as 14 bare digits
    const name = nameOf(reviewed);
    for (const form of [reviewed.nhid, reviewed.nhid.replace(/-/g, '')]) {
      await page.getByLabel('Search by').selectOption('nhid');
      await page.getByLabel('Search for').fill(form);
      await page.getByLabel('Search for').press('Enter');
      await page.locator('table.list tbody tr').first().waitFor();
      await page.getByRole('link', { name }).waitFor();
      expect({ form, rows: await page.locator('table.list tbody tr').count() }).toEqual({ form, rows: 1 });
      await expect(page.locator('table.list tbody tr').textContent()).resolves.toContain(hyphenated(reviewed.nhid.replace(/-/g, '')));
      if (form === reviewed.nhid) await checkScreen(page, 'finder-nhid');
      await page.getByLabel('Search for').fill('');
    }

    // name prefix: a family name of the demo shared by 11–20 patients pages through (10, then the rest)
    const families = [...new Set(demo.patients.map((p) => p.resource.name[0].family as string))];
    let prefix = '';
    let matches = 0;
    for (const f of families) {
      matches = await total(`Patient?name=${encodeURIComponent(f)}`);
      if (matches > 10 && matches <= 20) {
        prefix = f.slice(0, Math.max(4, f.length - 1));
        matches = await total(`Patient?name=${encodeURIComponent(prefix)}`);
        if (matches > 10 && matches <= 20) break;
      }
      prefix = '';
    }
    expect(prefix).not.toBe('');
    await page.getByLabel('Search by').selectOption('name');
    await page.getByLabel('Search for').fill(prefix);
    await page.getByLabel('Search for').press('Enter');
    await page.getByText('Page 1: 10 patients').waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText(`Page 2: ${matches - 10} patient${matches === 11 ? '' : 's'}`).waitFor();
    expect(await page.getByRole('button', { name: 'Next page' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.getByText('Page 1: 10 patients').waitFor();

    // phone; and nothing found says so
    await page.getByLabel('Search by').selectOption('phone');
    await page.getByLabel('Search for').fill(reviewed.resource.telecom[0].value);
    await page.getByLabel('Search for').press('Enter');
    await page.getByRole('link', { name }).waitFor();
    await page.getByLabel('Search for').fill('+91-00000-00000');
    await page.getByLabel('Search for').press('Enter');
    await page.getByText('No patient matches this search.').waitFor();

    // keyboard: the result link opens the patient: their two diabetes reviews and the HbA1c chart with the lab's range
    await page.getByLabel('Search by').selectOption('nhid');
    await page.getByLabel('Search for').fill(reviewed.nhid);
    await page.getByLabel('Search for').press('Enter');
    await page.getByRole('link', { name }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name }).waitFor();
    await page.locator('section.history[data-first-view-ms]').waitFor();
    const visits = demo.visits.filter((v) => v.patient.id === reviewed.id).sort((a, b) => a.daysAgo - b.daysAgo);
    const items = page.locator('li.encounter');
    expect(await items.count()).toBe(visits.length);
    for (const [i, v] of visits.entries()) {
      const text = (await items.nth(i).textContent()) ?? '';
      expect(text).toContain(v.hospital.name);
      expect(text).toMatch(/Diabetes mellitus type 2/);
      expect(text).toMatch(/Metformin 500 mg/);
      expect(text).toMatch(/Hemoglobin A1c.*%/);
      expect(text).toMatch(/Bill .* issued/);
    }
    const hba1c = page.locator('#chart-hba1c');
    expect(Number(await hba1c.getAttribute('data-points'))).toBe(visits.length);
    await expect(hba1c.textContent()).resolves.toContain('reference 4–5.6 % (from the lab)');
    expect(Number(await page.locator('#chart-weight').getAttribute('data-points'))).toBe(visits.length);
    // blood pressure: each component's own reference range, as the demo's observations carry it (not a typical one)
    const bp = visits[0].resources.find((r) => r.resourceType === 'Observation' && r.code.coding[0].code === '85354-9')!;
    const [sys, dia] = bp.component.map((c: Json) => `${c.referenceRange[0].low.value}–${c.referenceRange[0].high.value}`);
    expect([sys, dia]).toEqual(['90–139', '60–89']);
    const bpChart = page.locator('#chart-bp');
    expect(Number(await bpChart.getAttribute('data-points'))).toBe(2 * visits.length);
    await expect(bpChart.locator('figcaption').textContent()).resolves.toBe(
      `Blood pressure (mmHg) · reference systolic ${sys} mmHg, diastolic ${dia} mmHg (from the record)`,
    );
    await expect(bpChart.locator('canvas').getAttribute('aria-label')).resolves.toContain(`reference range systolic ${sys} mmHg, diastolic ${dia}`);
    await checkScreen(page, 'history-demo-patient');
  });

  test('EHR launch opens a demo patient with a long past: timeline newest first across the hospitals, lab charts, filters; first view timed', async () => {
    const launch = await createLaunch(server, { patient: longPast.id, client_id: 'arogya-web' });
    expect(launch.status).toBe(201);
    const page = await newPage();
    const started = Date.now();
    await page.goto(`${server.origin}/app/launch.html?iss=${encodeURIComponent(server.base)}&launch=${((await launch.json()) as Json).launch}`);
    await signIn(page, doctor);
    const view = page.locator('section.history[data-first-view-ms]');
    await view.waitFor({ timeout: 30_000 });
    const launchToView = Date.now() - started;
    expect(new URL(page.url()).hash).toBe(`#/patient/${longPast.id}`);
    await page.getByRole('heading', { level: 1, name: nameOf(longPast) }).waitFor();
    const resources = Number(await view.getAttribute('data-resources'));
    expect(resources).toBeGreaterThanOrEqual(1000);

    // timeline: newest first (the demo's own recent visits on top), all three hospitals, each visit with its parts
    const times = await page.locator('li.encounter h3 time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime') ?? ''));
    expect(times.length).toBe(25); // the first batch; the rest behind "Show more visits"
    expect([...times].sort().reverse()).toEqual(times);
    const newest = demo.visits.filter((v) => v.patient.id === longPast.id).sort((a, b) => a.daysAgo - b.daysAgo)[0];
    const first = (await page.locator('li.encounter').first().textContent()) ?? '';
    expect(first).toContain(newest.hospital.name);
    expect(first).toMatch(/Diabetes mellitus type 2/);
    expect(first).toMatch(/Hemoglobin A1c.*%/);
    if (newest.status === 'finished') expect(first).toMatch(/Bill .* issued/);
    const hospitals = await page.locator('#f-hospital option').allTextContents();
    expect(hospitals).toEqual(expect.arrayContaining(HOSPITALS.map((h) => h.name)));

    // lab charts with the lab's reference ranges, and the vital signs
    const hba1c = page.locator('#chart-hba1c');
    expect(Number(await hba1c.getAttribute('data-points'))).toBeGreaterThanOrEqual(80);
    await expect(hba1c.textContent()).resolves.toContain('reference 4–5.6 % (from the lab)');
    await expect(page.locator('#chart-cholesterol').textContent()).resolves.toContain('(from the lab)');
    expect(Number(await page.locator('#chart-bp').getAttribute('data-points'))).toBeGreaterThanOrEqual(160);
    // blood pressure: the latest range the data gives (the demo's visits), per component
    await expect(page.locator('#chart-bp figcaption').textContent()).resolves.toContain(
      'reference systolic 90–139 mmHg, diastolic 60–89 mmHg (from the record)',
    );
    expect(Number(await page.locator('#chart-weight').getAttribute('data-points'))).toBeGreaterThanOrEqual(80);
    await checkScreen(page, 'history-laptop');

    // more visits on request
    await page.getByRole('button', { name: /Show more visits/ }).click();
    expect(await page.locator('li.encounter').count()).toBe(50);

    // filters: one hospital, then a date range
    const count = async () => Number(/Visits \((\d+)/.exec((await page.locator('#timeline-h').textContent()) ?? '')![1]);
    const all = await count();
    const pune = HOSPITALS.find((h) => h.key === 'pune')!.name;
    await page.getByLabel('Hospital').selectOption(pune);
    await page.getByText(/Visits \(\d+ of \d+\)/).waitFor();
    const meta = await page.locator('li.encounter p.meta').allTextContents();
    expect(meta.every((m) => m.startsWith(pune))).toBe(true);
    const atPune = await count();
    expect(atPune).toBeGreaterThan(0);
    expect(atPune).toBeLessThan(all);
    expect(Number(await page.locator('#chart-hba1c').getAttribute('data-points'))).toBe(atPune); // one HbA1c per review
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.locator('#f-from').fill('2020-01-01');
    await page.locator('#f-to').fill('2020-12-31');
    await page.locator('#f-to').dispatchEvent('change');
    await page.getByText(/Visits \(\d+ of \d+\)/).waitFor();
    const years = await page.locator('li.encounter h3 time').evaluateAll((els) => els.map((e) => (e.getAttribute('datetime') ?? '').slice(0, 4)));
    expect(years.length).toBeGreaterThan(0);
    expect(new Set(years)).toEqual(new Set(['2020']));
    // the earlier reviews' blood pressures carry no reference range: the chart falls back to a typical one and says so
    await expect(page.locator('#chart-bp figcaption').textContent()).resolves.toContain(
      'reference systolic 90–120 mmHg, diastolic 60–80 mmHg (typical adult range)',
    );

    // tablet width
    await page.setViewportSize(TABLET);
    await checkScreen(page, 'history-tablet');

    // the first view again on a fresh page load (session kept, no sign-in): what a clinician waits for
    const reloadStart = Date.now();
    await page.reload();
    await page.locator('section.history[data-first-view-ms]').waitFor({ timeout: 30_000 });
    const reloadToView = Date.now() - reloadStart;
    const inApp = Number(await page.locator('section.history').getAttribute('data-first-view-ms'));
    console.log(
      `FIRST VIEW (demo patient with ${resources} resources): ${inApp} ms from the app's start to the rendered history, ` +
        `${reloadToView} ms page load to view, ${launchToView} ms from the EHR launch (sign-in and consent included)`,
    );

    // an unknown patient: an error state, not a blank page
    await page.goto(`${server.origin}/app/#/patient/no-such-patient`);
    await page.getByRole('alert').waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/Not found/);
    await checkScreen(page, 'history-not-found');
  });

  test("hospital dashboard: concluding one of the demo's open visits through the API updates the figures live, without a reload", async () => {
    // one of today's OPD visits still with the doctor, at a hospital that is short of some medicine
    const open = demo.visits.filter((v) => v.daysAgo === 0 && v.status === 'in-progress' && v.patient.id !== longPast.id);
    const visit = open.find((v) => v.hospital.key !== 'blr') ?? open[0];
    expect(visit).toBeDefined();
    const org = hospitalId(visit.hospital);
    const encounter = (await server.request('GET', `/Encounter/${visit.id}`)).body;
    expect(encounter.status).toBe('in-progress');
    const lowStock = async () => {
      const items = (
        await server.request('GET', `/Basic?code=${encodeURIComponent(STOCK_ITEM)}&author=Organization/${org}&_count=100`)
      ).body.entry.map((e: Json) => e.resource);
      const q = (b: Json, n: string) => b.extension.find((e: Json) => e.url.endsWith(`/${n}`))?.valueQuantity.value ?? 0;
      return items.filter((b: Json) => q(b, 'stock-on-hand') - q(b, 'stock-reserved') <= q(b, 'stock-reorder-level')).length as number;
    };

    const page = await newPage();
    await page.goto(`${server.origin}${login.path}`);
    await signIn(page, doctor);
    await page.getByRole('heading', { name: 'Find a patient' }).waitFor();
    await page.goto(`${server.origin}/app/#/dashboard?org=${org}`);
    const fig = (name: string) => page.locator(`section.dashboard:not([data-old]) [data-figure="${name}"] dd`);
    await page.locator('section.dashboard[data-live="bound"]').waitFor({ timeout: 20_000 });
    await expect(page.locator('#dash-org option:checked').textContent()).resolves.toBe(`${visit.hospital.name} (HFR ${visit.hospital.hfr})`);
    const read = async () => {
      const n = async (name: string) => Number((await fig(name).textContent())?.replace(/[^\d.]/g, ''));
      return {
        inProgress: await n('opd-in-progress'),
        finished: await n('opd-finished'),
        stockLow: await n('stock-low'),
        preparation: await n('dispense-preparation'),
        onHold: await n('dispense-on-hold'),
        issued: await n('invoices-issued'),
        amount: await n('invoices-amount'),
      };
    };
    const before = await read();
    const queue = demo.visits.filter((v) => v.daysAgo === 0 && v.hospital.key === visit.hospital.key);
    // invoices issued today are the bills of today's concluded visits only (the demo's past visits are billed on their day)
    const todaysBills = await Promise.all(
      queue
        .filter((v) => v.status === 'finished')
        .map(async (v) => {
          const found = await server.request('GET', `/Invoice?identifier=${encodeURIComponent(`${SID}/invoice-key|Encounter/${v.id}`)}`);
          return found.body.entry[0].resource.totalGross.value as number;
        }),
    );
    expect(before).toMatchObject({
      // visits still open from earlier days are in today's queue too (an open period reaches into today)
      inProgress: demo.visits.filter((v) => v.status === 'in-progress' && v.hospital.key === visit.hospital.key).length,
      finished: queue.filter((v) => v.status === 'finished').length,
      stockLow: await lowStock(),
      issued: todaysBills.length,
    });
    expect(before.amount).toBeCloseTo(
      todaysBills.reduce((a, b) => a + b, 0),
      2,
    );
    expect(before.stockLow).toBeGreaterThan(0); // the demo's shortages
    await checkScreen(page, 'dashboard-before');
    await page.evaluate(() => ((globalThis as any).__sameDocument = true));

    // the doctor concludes the visit (another client, through the API): dispensing and billing run. It ends now, or
    // (before this visit's start time of day in India, e.g. a run at 00:30 UTC = 06:00 IST) a quarter of an hour
    // after its start: an end before the start is an invalid period (per-1), refused with a 400.
    const end = new Date(Math.max(Date.now(), Date.parse(encounter.period.start) + 15 * 60_000)).toISOString();
    const put = await server.request('PUT', `/Encounter/${visit.id}`, {
      body: { ...encounter, status: 'finished', period: { ...encounter.period, end } },
      headers: { 'if-match': `W/"${encounter.meta.versionId}"` },
    });
    expect(put.status).toBe(200);
    const bills = (await server.request('GET', `/Invoice?identifier=${encodeURIComponent(`${SID}/invoice-key|Encounter/${visit.id}`)}`)).body.entry;
    expect(bills.map((e: Json) => e.resource.status)).toEqual(['issued']);
    const gross = bills[0].resource.totalGross.value as number;
    const prepared = await total(`MedicationDispense?context=Encounter/${visit.id}&status=preparation`);
    const held = await total(`MedicationDispense?context=Encounter/${visit.id}&status=on-hold`);
    expect(prepared + held).toBeGreaterThan(0);

    const shows = (figure: string, value: string) =>
      page.waitForFunction(([f, v]) => (globalThis as any).document.querySelector(`[data-figure="${f}"] dd`)?.textContent === v, [figure, value], {
        timeout: 20_000,
      });
    await shows('invoices-issued', String(before.issued + 1));
    await shows('opd-finished', String(before.finished + 1));
    const after = await read();
    expect(after).toEqual({
      inProgress: before.inProgress - 1,
      finished: before.finished + 1,
      stockLow: await lowStock(),
      preparation: before.preparation + prepared,
      onHold: before.onHold + held,
      issued: before.issued + 1,
      amount: expect.closeTo(before.amount + gross, 2),
    });
    expect(await page.evaluate(() => (globalThis as any).__sameDocument)).toBe(true);
    await checkScreen(page, 'dashboard-after');

    // another hospital, then back: the live Subscriptions of a hospital are reused, not created again
    const subscriptionsOf = async (o: string) => total(`Subscription?criteria=${encodeURIComponent(`Encounter?service-provider=Organization/${o}`)}`);
    // (each view is a new element: the one being left is marked, and the new one waited for)
    const switched = async (act: () => Promise<unknown>) => {
      await page.evaluate(() => (globalThis as any).document.querySelector('section.dashboard').setAttribute('data-old', ''));
      await act();
      await page.locator('section.dashboard[data-live="bound"]:not([data-old])').waitFor({ timeout: 20_000 });
    };
    const other = HOSPITALS.find((h) => h.key !== visit.hospital.key)!;
    await switched(() => page.getByLabel('Hospital', { exact: true }).selectOption(hospitalId(other)));
    expect(new URL(page.url()).hash).toBe(`#/dashboard?org=${hospitalId(other)}`);
    const otherQueue = demo.visits.filter((v) => v.daysAgo === 0 && v.hospital.key === other.key && v.status === 'finished');
    expect(await fig('opd-finished').textContent()).toBe(String(otherQueue.length));
    await switched(() => page.goBack());
    expect(await fig('opd-finished').textContent()).toBe(String(after.finished));
    expect(await subscriptionsOf(org)).toBe(1);
    expect(await subscriptionsOf(hospitalId(other))).toBe(1);
    expect(await page.evaluate(() => (globalThis as any).__sameDocument)).toBe(true);
    await page.setViewportSize(TABLET);
    await checkScreen(page, 'dashboard-tablet');
  });

  test('patient-scoped launches show only their patient: no finder, no dashboard, and their token cannot read another demo patient', async () => {
    // the demo doctor picks a demo patient in the server's picker (searched for by NHID)
    const page = await newPage(TABLET);
    await page.goto(`${server.origin}/app/launch.html?mode=patient`);
    await signIn(page, doctor, { search: reviewed.nhid, label: new RegExp(nameOf(reviewed)) });
    await page.getByRole('heading', { level: 1, name: nameOf(reviewed) }).waitFor();
    expect(await page.getByRole('link', { name: 'Hospital dashboard' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Find a patient' }).count()).toBe(0);
    await checkScreen(page, 'patient-scoped');

    for (const hash of [`#/patient/${longPast.id}`, '#/dashboard', '#/find']) {
      await page.evaluate((h) => ((globalThis as any).location.hash = h), hash);
      await page.getByRole('heading', { name: 'Not available' }).waitFor();
      await expect(page.getByRole('alert').textContent()).resolves.toContain('one patient only');
    }
    await checkScreen(page, 'patient-scoped-denied');

    // the app's own token: its patient yes, another demo patient no, a search finds only its patient
    const reads = async (p: Page, mine: string, other: string) =>
      p.evaluate(
        async ({ base, token, mine, other }) => {
          const auth = { authorization: `Bearer ${token}` };
          return {
            mine: (await fetch(`${base}/Patient/${mine}`, { headers: auth })).status,
            other: (await fetch(`${base}/Patient/${other}`, { headers: auth })).status,
            otherVisits: (((await (await fetch(`${base}/Encounter?patient=${other}`, { headers: auth })).json()) as any).entry ?? [])
              .length as number,
            search: (((await (await fetch(`${base}/Patient?_count=50`, { headers: auth })).json()) as any).entry ?? []).length as number,
          };
        },
        { base: server.base, token: (await appToken(p)).access_token, mine, other },
      );
    expect((await appToken(page)).scope).not.toMatch(/user\//);
    expect(await reads(page, reviewed.id, longPast.id)).toEqual({ mine: 200, other: 404, otherVisits: 0, search: 1 });

    // the demo's patient user signs in with the password the seed printed: their own record, nobody else's
    const own = demo.patients.find((p) => p.id === 'demo-pat-001')!;
    const user = { username: 'patient.demo-pat-001', password: demo.password('patient.demo-pat-001') };
    const mine = await newPage(TABLET);
    await mine.goto(`${server.origin}/app/launch.html?mode=patient`);
    await signIn(mine, user);
    await mine.getByRole('heading', { level: 1, name: nameOf(own) }).waitFor();
    await mine.locator('section.history[data-first-view-ms]').waitFor();
    expect(await mine.getByRole('link', { name: 'Hospital dashboard' }).count()).toBe(0);
    expect((await appToken(mine)).patient).toBe(own.id);
    const stranger = reviewed.id !== own.id ? reviewed.id : longPast.id;
    expect(await reads(mine, own.id, stranger)).toEqual({ mine: 200, other: 404, otherVisits: 0, search: 1 });
    await checkScreen(mine, 'patient-user');
  });
});
