/**
 * Headless Chromium for the app's tests (the Debian package, driven by playwright-core, as test/browser does):
 * skipped loudly without /usr/bin/chromium unless CI=true. Also: the app's build (rebuilt when app-web/ changed
 * since the last build, so `npx jest test/app` alone works), axe-core, the sign-in pages, screenshots.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '..', '..');
export const ARTEFACTS = path.join(ROOT, 'test-artefacts', 'app');

export function chromiumAvailable(): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`app tests need ${CHROMIUM} (apt-get install chromium); CI=true: failing instead of skipping`);
  console.warn(`SKIPPING the clinician app tests: ${CHROMIUM} is missing (apt-get install chromium)`);
  return false;
}

function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** dist/app, built now if missing or older than app-web/ (npm test builds it before jest). */
export function ensureAppBuilt(): void {
  const index = path.join(ROOT, 'dist', 'app', 'index.html');
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= newest(path.join(ROOT, 'app-web'))) return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'app-web/vite.config.mts'], {
    cwd: ROOT,
    stdio: 'pipe',
  });
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page (WCAG 2.1 A and AA, best practices); lesser ones are printed. */
export async function seriousViolations(page: Page, screen: string): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const { axe, document } = globalThis as any;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return {
      passes: r.passes.length as number,
      violations: r.violations.map((v: any) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((n: any) => n.target.join(' ')),
      })),
    };
  });
  if (result.passes < 5) throw new Error(`axe checked almost nothing on ${screen}`);
  const minor = result.violations.filter((v: any) => v.impact !== 'serious' && v.impact !== 'critical');
  if (minor.length) console.log(`axe, ${screen}: minor: ${JSON.stringify(minor)}`);
  return result.violations.filter((v: any) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTEFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTEFACTS, `${name}.png`), fullPage: true });
}

/** A patient to choose in the server's picker: searched for (name or NHID) first when `search` is given. */
export interface Pick {
  search?: string;
  label: RegExp;
}

/**
 * Walks the authorization pages until the browser is back at the app: sign in, pick a patient (when the picker
 * shows), allow (unless the consent is remembered).
 */
export async function signIn(page: Page, user: { username: string; password: string }, pick?: Pick): Promise<void> {
  let searched = false;
  for (let step = 0; step < 7; step++) {
    await page.waitForURL((u) => u.pathname.startsWith('/auth/') || u.pathname === '/app/', { timeout: 20_000 });
    if (new URL(page.url()).pathname === '/app/') return;
    await page.locator('h1').first().waitFor();
    const heading = (await page.locator('h1').first().textContent()) ?? '';
    const before = page.url();
    let act: Promise<unknown>;
    if (/sign in/i.test(heading)) {
      await page.getByLabel('Username').fill(user.username);
      await page.getByLabel('Password').fill(user.password);
      act = page.getByRole('button', { name: 'Sign in' }).click();
    } else if (/choose a patient/i.test(heading)) {
      if (!pick) throw new Error('the patient picker showed, but the test names no patient');
      if (pick.search && !searched) {
        searched = true;
        await page.getByLabel('Search by name or NHID').fill(pick.search);
        act = page.getByRole('button', { name: 'Search' }).click();
        await Promise.all([page.waitForEvent('framenavigated'), act]);
        await page.waitForLoadState('domcontentloaded');
        continue;
      }
      await page.getByLabel(pick.label).check();
      act = page.getByRole('button', { name: 'Continue with this patient' }).click();
    } else if (/allow access/i.test(heading)) {
      act = page.getByRole('button', { name: 'Allow' }).click();
    } else {
      throw new Error(`unexpected page "${heading}" at ${before}: ${await page.locator('main').textContent()}`);
    }
    await Promise.all([page.waitForEvent('framenavigated'), act]);
    await page.waitForLoadState('domcontentloaded');
  }
  throw new Error(`still not back at the app: ${page.url()}`);
}
