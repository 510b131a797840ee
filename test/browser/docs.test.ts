/**
 * /docs in a real browser (headless Chromium from the Debian package, driven by playwright-core): the page renders
 * with its stylesheet under the server's CSP, lists every resource type, its links work (a resource type's section,
 * openapi.json), and it passes axe-core (WCAG 2.1 A/AA and best practices) with zero violations — with a resource
 * type's search parameters opened too. No token: the documentation is public. Without /usr/bin/chromium these tests
 * skip loudly, unless CI=true, where they fail.
 */
import fs from 'node:fs';
import { type Browser, type Page, chromium } from 'playwright-core';
import { useServer, type Json } from '../harness';

const CHROMIUM = '/usr/bin/chromium';

function chromiumAvailable(): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`browser tests need ${CHROMIUM} (apt-get install chromium); CI=true: failing instead of skipping`);
  console.warn(`SKIPPING the /docs browser test: ${CHROMIUM} is missing (apt-get install chromium)`);
  return false;
}

const describeBrowser = chromiumAvailable() ? describe : describe.skip;
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

async function axeViolations(page: Page): Promise<{ id: string; help: string; nodes: number }[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const { axe, document } = globalThis as any;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return { passes: r.passes.length as number, violations: r.violations.map((v: any) => ({ id: v.id, help: v.help, nodes: v.nodes.length })) };
  });
  expect(result.passes).toBeGreaterThan(5);
  return result.violations as { id: string; help: string; nodes: number }[];
}

describeBrowser('/docs in Chromium', () => {
  const server = useServer();
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('renders the resource list, its links work, and it passes axe', async () => {
    const types = ((await server.request('GET', '/metadata')).body.rest[0].resource as Json[]).map((r) => r.type as string);
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
    });
    const res = await page.goto(`${server.origin}/docs`);
    expect(res?.status()).toBe(200);
    await expect(page.title()).resolves.toContain('API documentation');
    await page.getByRole('heading', { level: 2, name: 'Resource types' }).waitFor();
    // every resource type is listed, as a link
    const listed = await page.locator('ul.types a').allTextContents();
    expect(listed).toEqual(types);
    // the stylesheet loaded (the CSP allows it): the tables have collapsed borders
    const collapse = await page.evaluate(
      () => (globalThis as any).getComputedStyle((globalThis as any).document.querySelector('table')).borderCollapse,
    );
    expect(collapse).toBe('collapse');
    expect(await axeViolations(page)).toEqual([]);

    // a resource type's page: its requests, operations and search parameters
    await page.getByRole('link', { name: 'Patient', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Patient' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/docs/Patient');
    await expect(page.textContent('main')).resolves.toContain('GET /Patient/[id]');
    await expect(page.textContent('main')).resolves.toContain('/Patient/[id]/$everything');
    await page.getByRole('table', { name: 'Search parameters of Patient' }).getByRole('rowheader', { name: 'birthdate' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('link', { name: /API documentation/ }).click();
    await page.getByRole('heading', { level: 2, name: 'Resource types' }).waitFor();

    // the OpenAPI link leads to the document
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/docs/openapi.json')),
      page.getByRole('link', { name: 'openapi.json' }).click(),
    ]);
    expect(response.status()).toBe(200);
    expect(((await response.json()) as Json).openapi).toBe('3.1.0');
    expect(problems).toEqual([]);
    await context.close();
  });
});
