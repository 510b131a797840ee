/**
 * The clinician app (/app) end to end in headless Chromium, against a real server with the HMS workflows on:
 * SMART launches (standalone with the finder, EHR launch of a patient, a patient-scoped launch), the patient
 * finder, a long history with its timeline and lab charts (first view measured and printed), the hospital dashboard
 * changing live when a visit is concluded through the API, and axe-core on every screen. Screenshots go to
 * test-artefacts/app/.
 */
import http from 'node:http';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { type Json, TEST_AUTH, type TestServer, startServer } from '../harness';
import { addUser, createLaunch } from '../auth/flow-driver';
import { CHROMIUM, chromiumAvailable, ensureAppBuilt, screenshot, seriousViolations, signIn } from './browser';
import { type Network, hmsPatient, network, nhid, patientWithLongHistory, visitToday } from './data';

const describeBrowser = TEST_AUTH === 'smart' && chromiumAvailable() ? describe : describe.skip;
const USER = { username: 'dr.iyer', password: 'a clinician password' };
const LAPTOP = { width: 1366, height: 900 };
const TABLET = { width: 820, height: 1180 };

describeBrowser('clinician app in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let net: Network;
  let asha: Json;
  let ashaNhid: string;
  let ravi: Json;
  let big: { id: string; resources: number };
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    ensureAppBuilt();
    server = await startServer({ workflows: true });
    net = await network(server);
    ashaNhid = nhid();
    asha = await hmsPatient(server, { family: 'Verma', given: 'Asha' }, ashaNhid, '+91-98450-12345');
    ravi = await hmsPatient(server, { family: 'Kulkarni', given: 'Ravi' });
    for (let i = 0; i < 12; i++) await hmsPatient(server, { family: `Deshpande${String.fromCharCode(97 + i)}`, given: 'Meera' });
    await addUser(server, USER.username, USER.password, `Practitioner/${net.hospitals[0].practitioner.id}`);
    big = await patientWithLongHistory(server, net);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 240_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.close();
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

  test('standalone launch → finder: by NHID in either form, by name prefix with paging, by phone', async () => {
    const page = await newPage();
    await page.goto(`${server.origin}/app/launch.html?mode=finder`);
    await signIn(page, USER);
    await page.getByRole('heading', { name: 'Find a patient' }).waitFor();
    await checkScreen(page, 'finder-empty');

    // NHID, hyphenated form (the stored one is 14 bare digits)
    const hyphenated = `${ashaNhid.slice(0, 2)}-${ashaNhid.slice(2, 6)}-${ashaNhid.slice(6, 10)}-${ashaNhid.slice(10)}`;
    await page.getByLabel('Search by').selectOption('nhid');
    await page.getByLabel('Search for').fill(hyphenated);
    await page.getByLabel('Search for').press('Enter');
    await page.getByRole('link', { name: 'Asha Verma' }).waitFor();
    expect(await page.locator('table.list tbody tr').count()).toBe(1);
    await checkScreen(page, 'finder-nhid');
    // the bare digits find her too
    await page.getByLabel('Search for').fill(ashaNhid);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Asha Verma' }).waitFor();

    // name prefix: 12 matches page through (10 + 2)
    await page.getByLabel('Search by').selectOption('name');
    await page.getByLabel('Search for').fill('Deshp');
    await page.getByLabel('Search for').press('Enter');
    await page.getByText('Page 1: 10 patients').waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText('Page 2: 2 patients').waitFor();
    expect(await page.getByRole('button', { name: 'Next page' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.getByText('Page 1: 10 patients').waitFor();

    // phone; and nothing found says so
    await page.getByLabel('Search by').selectOption('phone');
    await page.getByLabel('Search for').fill('+91-98450-12345');
    await page.getByLabel('Search for').press('Enter');
    await page.getByRole('link', { name: 'Asha Verma' }).waitFor();
    await page.getByLabel('Search for').fill('+91-00000-00000');
    await page.getByLabel('Search for').press('Enter');
    await page.getByText('No patient matches this search.').waitFor();

    // keyboard: the result link opens the patient
    await page.getByLabel('Search by').selectOption('nhid');
    await page.getByLabel('Search for').fill(ashaNhid);
    await page.getByLabel('Search for').press('Enter');
    await page.getByRole('link', { name: 'Asha Verma' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Asha Verma' }).waitFor();
    await page.getByText('No visits recorded for this patient.').waitFor();
    await checkScreen(page, 'history-empty');
  });

  test('EHR launch opens that patient: timeline newest first across hospitals, lab charts with ranges, filters; first view timed', async () => {
    const launch = await createLaunch(server, { patient: big.id, client_id: 'arogya-web' });
    expect(launch.status).toBe(201);
    const page = await newPage();
    const started = Date.now();
    await page.goto(`${server.origin}/app/launch.html?iss=${encodeURIComponent(server.base)}&launch=${((await launch.json()) as Json).launch}`);
    await signIn(page, USER);
    const view = page.locator('section.history[data-first-view-ms]');
    await view.waitFor({ timeout: 30_000 });
    const launchToView = Date.now() - started;
    expect(new URL(page.url()).hash).toBe(`#/patient/${big.id}`);
    const resources = Number(await view.getAttribute('data-resources'));
    expect(resources).toBeGreaterThanOrEqual(1000);

    // timeline: newest first, several hospitals, each visit with its parts
    const times = await page.locator('li.encounter h3 time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime') ?? ''));
    expect(times.length).toBe(25); // the first batch; the rest behind "Show more visits"
    expect([...times].sort().reverse()).toEqual(times);
    const first = page.locator('li.encounter').first();
    await expect(first.textContent()).resolves.toMatch(/Type 2 diabetes mellitus/);
    await expect(first.textContent()).resolves.toMatch(/Hemoglobin A1c.*%/);
    await expect(first.textContent()).resolves.toMatch(/Bill .* (issued|draft)/);
    const hospitals = await page.locator('#f-hospital option').allTextContents();
    expect(hospitals).toEqual(expect.arrayContaining(['Sanjeevani Multispeciality Hospital', 'Lotus Diabetes Centre']));

    // a lab chart with its reference range, and the vitals
    const hba1c = page.locator('#chart-hba1c');
    expect(Number(await hba1c.getAttribute('data-points'))).toBeGreaterThanOrEqual(70);
    await expect(hba1c.textContent()).resolves.toContain('reference 4–5.6 %');
    expect(Number(await page.locator('#chart-bp').getAttribute('data-points'))).toBeGreaterThanOrEqual(140);
    expect(Number(await page.locator('#chart-weight').getAttribute('data-points'))).toBeGreaterThanOrEqual(70);
    await checkScreen(page, 'history-laptop');

    // more visits on request; the header names the signed-in doctor
    await page.getByRole('button', { name: /Show more visits/ }).click();
    expect(await page.locator('li.encounter').count()).toBe(50);
    await page.getByText('Signed in as Dr. Rajesh Iyer').waitFor();

    // filters: one hospital, then a date range
    const total = Number(/Visits \((\d+)/.exec((await page.locator('#timeline-h').textContent()) ?? '')![1]);
    await page.getByLabel('Hospital').selectOption('Lotus Diabetes Centre');
    await page.getByText(/Visits \(\d+ of \d+\)/).waitFor();
    const meta = await page.locator('li.encounter p.meta').allTextContents();
    expect(meta.every((m) => m.startsWith('Lotus Diabetes Centre'))).toBe(true);
    const lotus = Number(/Visits \((\d+)/.exec((await page.locator('#timeline-h').textContent()) ?? '')![1]);
    expect(lotus).toBeGreaterThan(0);
    expect(lotus).toBeLessThan(total);
    expect(Number(await page.locator('#chart-hba1c').getAttribute('data-points'))).toBe(lotus);
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.locator('#f-from').fill('2020-01-01');
    await page.locator('#f-to').fill('2020-12-31');
    await page.locator('#f-to').dispatchEvent('change');
    await page.getByText(/Visits \(\d+ of \d+\)/).waitFor();
    const days = await page.locator('li.encounter h3 time').evaluateAll((els) => els.map((e) => (e.getAttribute('datetime') ?? '').slice(0, 4)));
    expect(days.length).toBeGreaterThan(0);
    expect(new Set(days)).toEqual(new Set(['2020']));

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
      `FIRST VIEW (patient with ${resources} resources): ${inApp} ms from the app's start to the rendered history, ` +
        `${reloadToView} ms page load to view, ${launchToView} ms from the EHR launch (sign-in and consent included)`,
    );

    // an unknown patient: an error state, not a blank page
    await page.goto(`${server.origin}/app/#/patient/no-such-patient`);
    await page.getByRole('alert').waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/Not found/);
  });

  test('hospital dashboard: concluding a visit through the API updates the figures live, without a reload', async () => {
    const { encounter } = await visitToday(server, net, asha.id);
    const page = await newPage();
    await page.goto(`${server.origin}/app/launch.html?mode=finder`);
    await signIn(page, USER);
    await page.goto(`${server.origin}/app/#/dashboard?org=${net.hospitals[0].org.id}`);
    const fig = (name: string) => page.locator(`[data-figure="${name}"] dd`);
    await page.locator('section.dashboard[data-live="bound"]').waitFor({ timeout: 20_000 });
    // (other tests' data may be billed at this hospital today: compare with what the dashboard showed before)
    const read = async () => {
      const n = async (name: string) => Number((await fig(name).textContent())?.replace(/[^\d.]/g, ''));
      return {
        inProgress: await n('opd-in-progress'),
        finished: await n('opd-finished'),
        stockLow: await n('stock-low'),
        preparation: await n('dispense-preparation'),
        issued: await n('invoices-issued'),
        amount: await n('invoices-amount'),
      };
    };
    const before = await read();
    expect(before).toMatchObject({ inProgress: 1, finished: 0, stockLow: 1, preparation: 0 });
    await checkScreen(page, 'dashboard-before');
    await page.evaluate(() => ((globalThis as any).__sameDocument = true));

    // the doctor concludes the visit (another client, through the API): dispensing and billing run
    const put = await server.request('PUT', `/Encounter/${encounter.id}`, {
      body: { ...encounter, status: 'finished', period: { ...encounter.period, end: new Date().toISOString() } },
      headers: { 'if-match': `W/"${encounter.meta.versionId}"` },
    });
    expect(put.status).toBe(200);
    const shows = (figure: string, value: string) =>
      page.waitForFunction(([f, v]) => (globalThis as any).document.querySelector(`[data-figure="${f}"] dd`)?.textContent === v, [figure, value], {
        timeout: 20_000,
      });
    await shows('invoices-issued', String(before.issued + 1));
    await shows('opd-finished', '1');
    const after = await read();
    // consultation 500 + 4 tablets × 2.50 with CGST 6% + SGST 6% = 511.20
    expect(after).toEqual({
      ...before,
      inProgress: 0,
      finished: 1,
      preparation: 1,
      issued: before.issued + 1,
      amount: expect.closeTo(before.amount + 511.2, 2),
    });
    expect(await page.evaluate(() => (globalThis as any).__sameDocument)).toBe(true);
    await checkScreen(page, 'dashboard-after');

    // another hospital, then back: the live Subscriptions of a hospital are reused, not created again
    const subscriptionsOf = async (org: string) =>
      (await server.request('GET', `/Subscription?criteria=${encodeURIComponent(`Encounter?service-provider=Organization/${org}`)}&_summary=count`))
        .body.total;
    // (each view is a new element: the one being left is marked, and the new one waited for)
    const switched = async (act: () => Promise<unknown>) => {
      await page.evaluate(() => (globalThis as any).document.querySelector('section.dashboard').setAttribute('data-old', ''));
      await act();
      await page.locator('section.dashboard[data-live="bound"]:not([data-old])').waitFor({ timeout: 20_000 });
    };
    await switched(() => page.getByLabel('Hospital', { exact: true }).selectOption(net.hospitals[2].org.id));
    expect(new URL(page.url()).hash).toBe(`#/dashboard?org=${net.hospitals[2].org.id}`);
    expect(await fig('opd-finished').textContent()).toBe('0');
    await switched(() => page.goBack());
    expect(await fig('opd-finished').textContent()).toBe('1');
    expect(await subscriptionsOf(net.hospitals[0].org.id)).toBe(1);
    expect(await subscriptionsOf(net.hospitals[2].org.id)).toBe(1);
    expect(await page.evaluate(() => (globalThis as any).__sameDocument)).toBe(true);
    await page.setViewportSize(TABLET);
    await checkScreen(page, 'dashboard-tablet');
  });

  test('a patient-scoped launch shows only its patient: no finder, no dashboard, and its token cannot read another patient', async () => {
    const page = await newPage(TABLET);
    await page.goto(`${server.origin}/app/launch.html?mode=patient`);
    await signIn(page, USER, /Asha Verma/);
    await page.getByRole('heading', { level: 1, name: 'Asha Verma' }).waitFor();
    expect(await page.getByRole('link', { name: 'Hospital dashboard' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Find a patient' }).count()).toBe(0);
    await checkScreen(page, 'patient-scoped');

    for (const hash of [`#/patient/${ravi.id}`, '#/dashboard', '#/find']) {
      await page.evaluate((h) => ((globalThis as any).location.hash = h), hash);
      await page.getByRole('heading', { name: 'Not available' }).waitFor();
      await expect(page.getByRole('alert').textContent()).resolves.toContain('one patient only');
    }
    await checkScreen(page, 'patient-scoped-denied');
    // the app's own token (fhirclient keeps it in sessionStorage): its patient yes, another no
    const statuses = await page.evaluate(
      async ({ base, mine, other }) => {
        const { sessionStorage } = globalThis as any;
        const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""');
        const state = JSON.parse(sessionStorage.getItem(key) ?? '{}');
        const auth = { authorization: `Bearer ${state.tokenResponse.access_token}` };
        return {
          scope: state.tokenResponse.scope as string,
          mine: (await fetch(`${base}/Patient/${mine}`, { headers: auth })).status,
          other: (await fetch(`${base}/Patient/${other}`, { headers: auth })).status,
          search: (((await (await fetch(`${base}/Patient?_count=50`, { headers: auth })).json()) as any).entry ?? []).length as number,
        };
      },
      { base: server.base, mine: asha.id, other: ravi.id },
    );
    expect(statuses.scope).not.toMatch(/user\//);
    expect(statuses).toMatchObject({ mine: 200, other: 404, search: 1 });
  });
});
