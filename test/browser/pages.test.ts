/**
 * The authorization pages in a real browser (headless Chromium from the Debian package, driven by playwright-core):
 * sign in, pick a patient, consent, land at the app's redirect URI with a code — which also proves the pages' CSP
 * lets the consent form's answer redirect to the app (Chromium enforces form-action on that redirect). Each page
 * passes an axe-core check with zero violations; axe is injected with page.evaluate, so the CSP stays strict.
 * Without /usr/bin/chromium these tests skip loudly, unless CI=true, where they fail.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, type Page, chromium } from 'playwright-core';
import { TEST_AUTH, useServer } from '../harness';
import { addPatient, addUser, authorizeUrl, pkce, registerClient } from '../auth/flow-driver';

const CHROMIUM = '/usr/bin/chromium';

function chromiumAvailable(): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`browser tests need ${CHROMIUM} (apt-get install chromium); CI=true: failing instead of skipping`);
  console.warn(`SKIPPING the browser tests: ${CHROMIUM} is missing (apt-get install chromium)`);
  return false;
}

const describeBrowser = TEST_AUTH === 'smart' && chromiumAvailable() ? describe : describe.skip;
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's violations on the page (WCAG 2.1 A and AA, and best practices). */
async function axeViolations(page: Page): Promise<{ id: string; help: string; nodes: number }[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const { axe, document } = globalThis as any;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return { passes: r.passes.length as number, violations: r.violations.map((v: any) => ({ id: v.id, help: v.help, nodes: v.nodes.length })) };
  });
  // axe ran its rules (a page it could not check would pass nothing)
  expect(result.passes).toBeGreaterThan(5);
  return result.violations as { id: string; help: string; nodes: number }[];
}

describeBrowser('authorization pages in Chromium', () => {
  // sign-in sessions on (AROGYA_SIGNIN_SESSION_SECONDS), so the pages after sign-in, sign-out and the account page show
  const server = useServer({ config: { signInSessionSeconds: 3600 } });
  let browser: Browser;
  let app: http.Server;
  let redirectUri: string;
  let clientId: string;
  let asha: string;

  beforeAll(async () => {
    app = http.createServer((_req, res) => res.end('<!doctype html><title>App</title><p>app</p>'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    redirectUri = `http://127.0.0.1:${(app.address() as AddressInfo).port}/callback`;
    clientId = (await registerClient(server, { clientName: 'Clinic board', redirectUris: [redirectUri] })).clientId;
    asha = await addPatient(server, 'Rao', 'Asha', '91-1111-2222-3333');
    await addPatient(server, 'Kumar', 'Ravi');
    await addUser(server, 'dr.mehta', 'a practitioner password', 'Practitioner/mehta');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => app?.close(resolve));
  });

  const start = (state: string, scope = 'openid fhirUser launch/patient patient/*.rs') =>
    authorizeUrl(server, {
      client_id: clientId,
      redirect_uri: redirectUri,
      scope,
      state,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });

  test('sign in, pick a patient, consent, land at the redirect URI with a code; every page passes axe', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    await page.goto(start('st-browser'));
    await expect(page.title()).resolves.toContain('Sign in');
    expect(await axeViolations(page)).toEqual([]);
    // keyboard: the username field is reachable with Tab and its focus is visible
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const { document, getComputedStyle } = globalThis as any;
      const el = document.activeElement;
      return { name: el.getAttribute('name') as string, outline: getComputedStyle(el).outlineStyle as string };
    });
    expect(focused.name).toBe('username');
    expect(focused.outline).not.toBe('none');

    // a wrong password: the page says so, and still passes axe
    await page.getByLabel('Username').fill('dr.mehta');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not right');
    expect(await axeViolations(page)).toEqual([]);

    await page.getByLabel('Password').fill('a practitioner password');
    await page.getByLabel('Password').press('Enter');
    await page.getByRole('heading', { name: 'Choose a patient' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Search by name or NHID').fill('Rao');
    await page.getByLabel('Search by name or NHID').press('Enter');
    await page.getByLabel(/Asha Rao/).check();
    expect(await page.getByLabel(/Asha Rao/).getAttribute('value')).toBe(asha);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Continue with this patient' }).click();

    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await expect(page.textContent('main')).resolves.toContain('Asha Rao');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.toString().startsWith(redirectUri));
    const landed = new URL(page.url());
    expect(landed.searchParams.get('state')).toBe('st-browser');
    expect(landed.searchParams.get('code')).toEqual(expect.any(String));

    // the browser stays signed in: the next authorization starts at the picker; the sign-out pages pass axe
    await page.goto(start('st-again'));
    await page.getByRole('heading', { name: 'Choose a patient' }).waitFor();
    await expect(page.textContent('main')).resolves.toContain('Signed in as dr.mehta');
    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign out' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.goto(start('st-after'));
    await expect(page.title()).resolves.toContain('Sign in');

    // the account page: sign in there, see the app allowed above, withdraw it — each state passes axe
    await page.goto(`${server.origin}/auth/account`);
    await page.getByLabel('Username').fill('dr.mehta');
    await page.getByLabel('Password').fill('a practitioner password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your apps' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Withdraw' }).first().click();
    await page.getByRole('status').waitFor();
    await expect(page.getByRole('status').textContent()).resolves.toContain('withdrawn');
    expect(await axeViolations(page)).toEqual([]);
    expect(cspErrors).toEqual([]);
    await context.close();
  });

  test('the error page and a deny pass axe; deny lands at the app with access_denied', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.origin}/auth/authorize?client_id=nobody`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    expect(await axeViolations(page)).toEqual([]);

    // (another scope than the first test's, whose allow is remembered)
    await page.goto(start('st-deny', 'launch/patient patient/Patient.rs'));
    await page.getByLabel('Username').fill('dr.mehta');
    await page.getByLabel('Password').fill('a practitioner password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel(/Ravi Kumar/).check();
    await page.getByRole('button', { name: 'Continue with this patient' }).click();
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL((url) => url.toString().startsWith(redirectUri));
    expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied');
    await context.close();
  });
});
