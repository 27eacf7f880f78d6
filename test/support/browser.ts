import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import chromium from '@sparticuz/chromium';
import axe from 'axe-core';
import { chromium as playwright, type Browser, type Page } from 'playwright-core';
import { ROOT } from './harness.js';

/** Where the console tests save their screenshots (copies of the current ones are committed under docs/screenshots). */
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? join(ROOT, 'test-output', 'screenshots');

/**
 * A real Chromium from the npm package @sparticuz/chromium (its build ships inside the package; no
 * download), driven by playwright-core. Only loopback is reachable: every other host name fails to
 * resolve, and Chromium's own background traffic is off.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = await chromium.executablePath();
  return playwright.launch({
    executablePath,
    headless: true,
    args: [
      ...chromium.args,
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-default-apps',
    ],
  });
}

/** Serious and critical accessibility violations on the page as it is now (axe-core). */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the console's policy forbids inline scripts, and rightly.
  await page.evaluate(`${axe.source};0`);
  // Fluent UI's focus manager (Tabster) inserts hidden <i tabindex="0" data-tabster-dummy> elements on
  // purpose: they hand focus on at the edges of groups and are never read out. They are not content.
  const result = await page.evaluate<{
    violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  }>("axe.run({ exclude: [['[data-tabster-dummy]']] }, { resultTypes: ['violations'] })");
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} (${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join('; ')})`,
    );
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Signs in through the local runner's development sign-in. */
export async function signIn(
  page: Page,
  rootUrl: string,
  name: string,
  role: 'Administrator' | 'Contributor',
): Promise<void> {
  await page.goto(`${rootUrl}.auth/login/dev`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Role').selectOption({ label: role });
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`${name} · ${role}`).waitFor({ timeout: 15_000 });
}
