/**
 * The admin console in a real browser (Chromium from @sparticuz/chromium, driven by playwright-core),
 * against the local runner, Azurite and the ActiveCampaign emulator, through the console only.
 */
import { readFileSync } from 'node:fs';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, principalHeader } from '../../shared/auth/principal.js';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
import { applyDevSession, serveDevSignIn } from '../../tools/localRunner/devSignIn.js';
import { accessibilityViolations, launchBrowser, screenshot, signIn } from '../support/browser.js';
import { startHarness, startRunnerProcess, uploadText, type Harness, type RunnerProcess } from '../support/harness.js';
import { WebhookReceiver } from '../support/webhookReceiver.js';
import { verifySignature } from '../../shared/webhooks/signature.js';

const ROWS = 600;
const INVALID = ['not-an-email', 'also@bad'];

/**
 * Picks a radio and waits until it shows as picked: the console's radios are controlled, so the
 * page shows the choice once React has rendered it (a busy machine can take a moment).
 */
/**
 * Saves a new connection and waits for the app's answers (the save, then the list read again), not
 * for a clock: under load a save that checks the key with ActiveCampaign can take longer than a poll.
 */
async function saveConnection(page: Page, save: ReturnType<Page['getByRole']>): Promise<void> {
  const answered = (method: string) =>
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === '/api/connections', {
      timeout: 0,
    });
  const [created, listed] = [answered('POST'), answered('GET')];
  await save.click();
  expect((await created).status()).toBe(201);
  await listed;
}

async function choose(radio: ReturnType<Page['getByRole']>): Promise<void> {
  await radio.click();
  await expect.poll(() => radio.isChecked()).toBe(true);
}

/**
 * A Customer Insights export destination: model.json and two headerless partitions. `modelFirst` writes
 * model.json only (a snapshot being written) and returns what writes the partitions it names.
 */
async function writeCdmSegment(
  h: Harness,
  folder: string,
  rows: number,
  invalid: string[] = [],
  { modelFirst = false } = {},
): Promise<() => Promise<void>> {
  const lines = Array.from(
    { length: rows },
    (_, i) => `${i},${invalid[i] ?? `vip${i}@example.com`},Given${i},Family${i},${['Oslo', 'Lima', 'Osaka'][i % 3]}`,
  );
  const half = Math.ceil(rows / 2);
  const parts = [lines.slice(0, half), lines.slice(half)];
  const writeParts = async () => {
    for (const [i, part] of parts.entries())
      await uploadText(h.blobs, 'customerinsights', `${folder}/Vip/part-${i}.csv`, `${part.join('\r\n')}\r\n`);
  };
  if (!modelFirst) await writeParts();
  const model = {
    name: 'CustomerInsights',
    entities: [
      {
        $type: 'LocalEntity',
        name: 'Vip',
        attributes: ['CustomerId', 'Email', 'FirstName', 'LastName', 'City'].map((name) => ({
          name,
          dataType: 'string',
        })),
        partitions: parts.map((_, i) => ({
          name: `part-${i}`,
          location: `https://contoso.blob.core.windows.net/customerinsights/${folder}/Vip/part-${i}.csv`,
          fileFormatSettings: {
            $type: 'CsvFormatSettings',
            columnHeaders: false,
            delimiter: ',',
            quoteStyle: 'QuoteStyle.Csv',
          },
        })),
      },
    ],
  };
  await uploadText(h.blobs, 'customerinsights', `${folder}/model.json`, JSON.stringify(model));
  return modelFirst ? writeParts : () => Promise.resolve();
}

describe('the admin console in a browser', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let browser: Browser;
  let page: Page;
  let root: string;
  let receiver: WebhookReceiver;
  const violations: Record<string, string[]> = {};

  async function checkAccessibility(name: string): Promise<void> {
    violations[name] = await accessibilityViolations(page);
  }

  beforeAll(async () => {
    h = await startHarness({
      requestsPerSecond: 100,
      bulkImportsPerMinute: 6_000,
      lists: [
        { id: 1, name: 'Newsletter' },
        { id: 2, name: 'VIP customers' },
      ],
      fields: [
        { id: 1, title: 'City', type: 'text' },
        { id: 2, title: 'Tier', type: 'dropdown', options: ['Gold', 'Silver'] },
      ],
    });
    // The scheduled refresh never fires during the test (an export set to refresh must not start runs of its own).
    receiver = await new WebhookReceiver().start();
    runner = await startRunnerProcess({
      ...h.env,
      REFRESH_SCHEDULE: '0 0 0 1 1 *',
      WEBHOOK_INSECURE_HOSTS: receiver.host,
    });
    root = runner.url.replace(/api$/, '');
    await writeCdmSegment(h, 'CustomerInsights_demo/vip-destination', ROWS, INVALID);
    await writeCdmSegment(h, 'CustomerInsights_demo/big-destination', 5_000);
    browser = await launchBrowser();
    // Reduced motion: the accessibility checks measure what the page settles on, not a dialog fading in.
    page = await (
      await browser.newContext({
        acceptDownloads: true,
        viewport: { width: 1280, height: 900 },
        reducedMotion: 'reduce',
      })
    ).newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await runner?.stop();
    await h?.stop();
    await receiver?.close();
  });

  it('asks a signed-out visitor to sign in, and serves the console with a strict policy', async () => {
    const response = await page.goto(root);
    const headers = response!.headers();
    expect(headers['content-security-policy']).toMatch(/script-src 'self';/);
    expect(headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(headers['x-content-type-options']).toBe('nosniff');
    await expect.poll(() => page.getByRole('link', { name: 'Sign in' }).count()).toBe(1);
    expect(await page.locator('main').innerText()).not.toContain('lists.Sign in');
    await checkAccessibility('signed out');
    // The script is served compressed, and the page has an icon.
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(await (await fetch(root)).text())![1];
    const plain = await fetch(`${root}${script.slice(1)}`, { headers: { 'accept-encoding': 'identity' } });
    const compressed = await fetch(`${root}${script.slice(1)}`, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(compressed.headers.get('content-encoding')).toBe('br');
    const plainText = await plain.text();
    expect(await compressed.text()).toBe(plainText);
    const raw = await new Promise<Buffer>((resolve, reject) => {
      get(`${root}${script.slice(1)}`, { headers: { 'accept-encoding': 'br' } }, (res) => {
        const chunks: Buffer[] = [];
        res
          .on('data', (c: Buffer) => chunks.push(c))
          .on('end', () => resolve(Buffer.concat(chunks)))
          .on('error', reject);
      }).on('error', reject);
    });
    expect(raw.length).toBeLessThan(Buffer.byteLength(plainText) / 3);
    const icon = await fetch(`${root}favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
  });

  it('lets an administrator add a connection: Save waits for "I agree", a wrong key is reported', async () => {
    await signIn(page, root, 'ada@example.com', 'Administrator');
    await page.getByRole('tab', { name: 'Connections' }).click();
    await page.getByRole('button', { name: 'Add connection' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add connection' });
    await dialog.getByLabel('Display name').fill('Main account');
    await dialog.getByLabel('API key').fill('wrong-key');
    await dialog.getByLabel('REST endpoint hostname').fill(h.emulator.hostname);
    await expect.poll(() => dialog.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await expect
      .poll(() => dialog.getByText(`ActiveCampaign did not accept the API key for ${h.emulator.hostname}`).count())
      .toBe(1);
    await dialog.getByLabel('API key').fill(EMULATOR_API_KEY);
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await expect.poll(() => dialog.getByText(/Connected: ActiveCampaign accepted the key/).count()).toBe(1);
    await checkAccessibility('add connection');
    await dialog.getByLabel('I agree').check();
    await saveConnection(page, dialog.getByRole('button', { name: 'Save' }));
    await expect.poll(() => page.getByRole('cell', { name: 'Main account', exact: true }).count()).toBe(1);

    // A second one that contributors may use.
    await page.getByRole('button', { name: 'Add connection' }).click();
    const second = page.getByRole('dialog', { name: 'Add connection' });
    await second.getByLabel('Display name').fill('Shared account');
    await second.getByRole('combobox', { name: 'Who can use this connection' }).click();
    await page.getByRole('option', { name: 'Administrators and contributors' }).click();
    await second.getByLabel('API key').fill(EMULATOR_API_KEY);
    await second.getByLabel('REST endpoint hostname').fill(h.emulator.hostname);
    await second.getByLabel('I agree').check();
    await saveConnection(page, second.getByRole('button', { name: 'Save' }));
    await expect.poll(() => page.getByRole('cell', { name: 'Shared account', exact: true }).count()).toBe(1);
    await screenshot(page, 'connections');
    await checkAccessibility('connections');

    // The key is write-only: not in the page, its storage or the console's code.
    expect(await page.content()).not.toContain(EMULATOR_API_KEY);
    expect(
      await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })),
    ).not.toContain(EMULATOR_API_KEY);
  });

  it('adds a destination with the list picker and column pickers filled from a Preview of a CDM folder; saving does not run it', async () => {
    await page.getByRole('tab', { name: 'Exports' }).click();
    await page.getByRole('button', { name: 'Add destination' }).click();
    // Saved empty: the first field that needs something has the focus, and its message names it.
    await page.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => page.evaluate('document.activeElement && document.activeElement.id'))
      .toBe('export-displayName');
    expect(await page.getByText('Enter a display name').count()).toBe(1);
    expect(await page.getByText('Choose the column that holds the email address').count()).toBe(1);
    expect(await page.getByText(/^The export was not saved: 5 fields need attention/).count()).toBe(1);
    await checkAccessibility('add destination, saved empty');
    await page.getByLabel('Display name').fill('VIP customers → Newsletter');
    await page.getByRole('combobox', { name: 'Connection for export' }).click();
    await page.getByRole('option', { name: 'Main account' }).click();
    await page.getByRole('combobox', { name: 'ActiveCampaign list' }).click();
    await page.getByRole('option', { name: 'Newsletter (ID 1)' }).click();
    await page.getByLabel('Container').fill('customerinsights');
    await page.getByLabel('Path').fill('CustomerInsights_demo/vip-destination');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.getByText('Recognised: Common Data Model folder (model.json).').count()).toBe(1);
    await expect.poll(() => page.getByRole('columnheader', { name: 'Email' }).count()).toBe(1);
    // The preview's columns sit side by side, none over another.
    const boxes = await page
      .getByRole('table', { name: 'First rows' })
      .getByRole('columnheader')
      .evaluateAll((cells) => cells.map((c) => c.getBoundingClientRect()).map((r) => [r.left, r.right]));
    for (let i = 1; i < boxes.length; i++) expect(boxes[i][0]).toBeGreaterThanOrEqual(boxes[i - 1][1] - 0.5);
    await page.getByRole('combobox', { name: 'Email' }).click();
    await page.getByRole('option', { name: 'Email', exact: true }).click();
    await page.getByRole('combobox', { name: 'First name' }).click();
    await page.getByRole('option', { name: 'FirstName' }).click();
    await page.getByRole('combobox', { name: 'Last name' }).click();
    await page.getByRole('option', { name: 'LastName' }).click();
    await page.getByRole('button', { name: 'Add attribute' }).click();
    await page.getByRole('combobox', { name: 'Column 1' }).click();
    await page.getByRole('option', { name: 'City' }).click();
    await page.getByRole('combobox', { name: 'ActiveCampaign field 1' }).click();
    await page.getByRole('option', { name: /^City \(ID 1/ }).click();
    await choose(page.getByRole('radio', { name: /^On demand only/ }));
    await screenshot(page, 'add-destination');
    await checkAccessibility('add destination');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => page.getByText(/Saved\. Saving does not run the export/).count(), { timeout: 15_000 })
      .toBe(1);
    expect(await page.getByText('No runs yet.').count()).toBe(1);
    // The export's page names the list, not only its id.
    await expect.poll(() => page.getByText('Newsletter (ID 1)', { exact: true }).count(), { timeout: 15_000 }).toBe(1);
    expect(h.emulator.acceptedImports).toBe(0);
  });

  it('runs the export and shows its progress to the end; the rejected rows download through the API', async () => {
    await page.getByRole('button', { name: 'Run now' }).click();
    await expect.poll(() => page.getByRole('region', { name: 'Active run' }).count(), { timeout: 15_000 }).toBe(1);
    await checkAccessibility('export page during a run');
    await expect.poll(() => page.getByRole('region', { name: 'Active run' }).count(), { timeout: 60_000 }).toBe(0);
    // Screen readers heard the end of the run.
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toMatch(/^Run completed with errors: read 600 · upserted 598/);
    const row = page.getByRole('row').filter({ hasText: 'Completed with errors' });
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain(`read ${ROWS} · upserted ${ROWS - INVALID.length}`);
    expect(h.emulator.listMembers(1)).toHaveLength(ROWS - INVALID.length);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('link', { name: 'Download rejected rows' }).click(),
    ]);
    const csv = readFileSync(await download.path(), 'utf8');
    expect(download.suggestedFilename()).toMatch(/^rejected-.*\.csv$/);
    expect(csv.split('\n')[0]).toBe('file,row,email,reason');
    expect(csv).toContain('customerinsights/CustomerInsights_demo/vip-destination/Vip/part-0.csv,1,not-an-email,');
    expect(csv).toContain('also@bad,invalid email: the domain is not a valid domain name');
    // Who the run touched, and what became of each.
    const [changes] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('link', { name: 'Download changed contacts' }).click(),
    ]);
    expect(changes.suggestedFilename()).toMatch(/^changes-.*\.csv$/);
    const changed = readFileSync(await changes.path(), 'utf8')
      .trim()
      .split('\n');
    expect(changed[0]).toBe('email,change,outcome');
    expect(changed).toHaveLength(ROWS - INVALID.length + 1);
    expect(changed.slice(1).every((line) => line.endsWith(',added,applied'))).toBe(true);
  });

  it('edits the export; its page then says what the next scheduled refresh will do', async () => {
    // Edit, then Save without a change: nothing is sent, every stored value stays as it was.
    const exportId = /#\/exports\/([^/?]+)/.exec(page.url())![1];
    const admin = principalHeader('ada@example.com', [ADMIN_ROLE]);
    const stored = async () =>
      (await fetch(`${runner.url}/exports/${exportId}`, { headers: { 'x-ms-client-principal': admin } })).json();
    await fetch(`${runner.url}/exports/${exportId}`, {
      method: 'PATCH',
      headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        tags: ['CI: VIP', 'Gold tier'],
        mapping: { email: 'Email', firstName: 'FirstName', lastName: 'LastName', fields: { '1': 'City' } },
      }),
    });
    const before = await stored();
    await page.reload();
    await page.getByRole('button', { name: 'Edit' }).click();
    // The edit form names the list.
    await expect
      .poll(() => page.getByRole('combobox', { name: 'ActiveCampaign list' }).inputValue(), { timeout: 15_000 })
      .toBe('Newsletter (ID 1)');
    expect(await page.getByLabel('Tags for every contact').inputValue()).toBe('CI: VIP; Gold tier');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => page.getByText('Nothing was changed, so nothing was saved.').count(), { timeout: 15_000 })
      .toBe(1);
    expect(await stored()).toEqual(before);
    await fetch(`${runner.url}/exports/${exportId}`, {
      method: 'PATCH',
      headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: [] }),
    });
    await page.reload();
    await page.getByRole('button', { name: 'Edit' }).click();
    await choose(page.getByRole('radio', { name: /^When a new snapshot lands/ }));
    await page.getByRole('button', { name: 'Save' }).click();
    // Edited since its last run: the next tick applies the edit, on the same snapshot.
    await expect
      .poll(
        () =>
          page
            .locator('dd')
            .filter({ hasText: /^.+: starts a run$/ })
            .count(),
        {
          timeout: 15_000,
        },
      )
      .toBe(1);
    await page.getByRole('button', { name: 'Edit' }).click();
    await choose(page.getByRole('radio', { name: /^On demand only/ }));
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByText('On demand only', { exact: true }).count(), { timeout: 15_000 }).toBe(1);

    // Update only says what it costs; the tags can follow the segment.
    await page.getByRole('button', { name: 'Edit' }).click();
    await choose(page.getByRole('radio', { name: /^Update only/ }));
    await expect
      .poll(() => page.getByText(/Each contact is looked up in ActiveCampaign before it is sent/).count())
      .toBe(1);
    await page.getByLabel('Tags for every contact').fill('CI: VIP');
    await page.getByRole('switch', { name: 'Remove these tags from contacts who leave the segment' }).check();
    await page.getByRole('checkbox', { name: 'Clear City when empty' }).check();
    await checkAccessibility('export form, update only');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByText('Update only', { exact: true }).count(), { timeout: 15_000 }).toBe(1);
    expect(await page.getByText('Removed when a contact leaves the segment', { exact: true }).count()).toBe(1);
    expect(await stored()).toMatchObject({
      mode: 'updateOnly',
      removeTagsWhenLeaving: true,
      tags: ['CI: VIP'],
      mapping: { emptyValues: { '1': 'clear' } },
    });
    await fetch(`${runner.url}/exports/${exportId}`, {
      method: 'PATCH',
      headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        mode: 'upsert',
        removeTagsWhenLeaving: false,
        tags: [],
        mapping: { email: 'Email', firstName: 'FirstName', lastName: 'LastName', fields: { '1': 'City' } },
      }),
    });
    await page.reload();
  });

  it('runs a dry run, shows its payload sample, cancels a run, and deletes the export', async () => {
    await page.getByRole('button', { name: 'Dry run' }).click();
    const dry = page.getByRole('row').filter({ hasText: '(dry run)' });
    await expect.poll(() => dry.filter({ hasText: /Completed/ }).count(), { timeout: 30_000 }).toBe(1);
    expect(await dry.textContent()).toContain('would upsert 0 · would unsubscribe 0 · unchanged 598');
    await dry.getByRole('button', { name: 'View payload sample' }).click();
    await expect
      .poll(() => page.getByRole('dialog', { name: 'Payload sample' }).textContent())
      .toContain('"wouldUpsert": 0');
    await page.getByRole('dialog', { name: 'Payload sample' }).getByRole('button', { name: 'Close' }).click();

    // Slow imports keep a run going long enough to cancel it.
    h.emulator.options.importPhaseInMs = 3_000;
    await page.getByRole('button', { name: 'Full resync' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Cancel run' }).count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => page.getByText(/^Batches \d+ of 3/).count(), { timeout: 15_000 }).toBe(1);
    await screenshot(page, 'export-during-run');
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await expect
      .poll(() => page.getByRole('row').filter({ hasText: 'Cancelled' }).count(), { timeout: 30_000 })
      .toBe(1);
    h.emulator.options.importPhaseInMs = 50;

    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete export' }).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByText('No exports yet.').count(), { timeout: 15_000 }).toBe(1);
  });

  it('keeps a guard stop in view after a dry run, and confirms exactly its removals in a dialog that states them', async () => {
    const admin = principalHeader('ada@example.com', [ADMIN_ROLE]);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const call = async (method: string, path: string, body?: unknown): Promise<any> => {
      const res = await fetch(`${runner.url}${path}`, {
        method,
        headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return res.status === 204 ? undefined : res.json();
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const runToEnd = async (exportId: string, body: object = {}): Promise<any> => {
      const { runId } = await call('POST', `/exports/${exportId}/runs`, body);
      return expect
        .poll(async () => (await call('GET', `/exports/${exportId}/runs/${runId}`)).finishedAt, { timeout: 30_000 })
        .toBeTruthy()
        .then(() => call('GET', `/exports/${exportId}/runs/${runId}`));
    };
    await writeCdmSegment(h, 'CustomerInsights_demo/guard-destination', 200);
    const main = (await call('GET', '/connections')).value.find(
      (c: { displayName: string }) => c.displayName === 'Main account',
    );
    const exp = await call('POST', '/exports', {
      displayName: 'Guarded mirror',
      connectionId: main.id,
      listId: 2,
      mode: 'mirror',
      schedule: 'manual',
      source: { container: 'customerinsights', path: 'CustomerInsights_demo/guard-destination' },
      mapping: { email: 'Email' },
    });
    await runToEnd(exp.id);
    await writeCdmSegment(h, 'CustomerInsights_demo/guard-destination', 120);
    const stopped = await runToEnd(exp.id);
    expect(stopped.removals).toMatchObject({ unsubscribes: 80, lastSent: 200, exceeded: true });
    await runToEnd(exp.id, { dryRun: true });

    // The exports list shows the last real run's outcome, and that a dry run came since.
    await page.goto(`${root}#/exports`);
    await page.reload();
    const listRow = page.getByRole('row').filter({ hasText: 'Guarded mirror' });
    await expect.poll(() => listRow.textContent(), { timeout: 15_000 }).toContain('Failed · a dry run since');
    expect(await listRow.textContent()).toContain('VIP customers (ID 2)');
    await listRow.getByRole('link', { name: 'Guarded mirror' }).click();
    await page.getByRole('button', { name: 'Run and confirm removals' }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Confirm removals' });
    // The list by name, once the account's lists have answered.
    await expect.poll(() => dialog.textContent()).toContain('Unsubscribe 80 contacts from VIP customers (ID 2)?');
    expect(await dialog.textContent()).toContain('80 of the 200 contacts the export last sent (40.0%)');
    await checkAccessibility('confirm removals');
    await dialog.getByRole('button', { name: 'Unsubscribe 80 contacts' }).click();
    const confirming = page.getByRole('row').filter({ hasText: '(confirming removals)' });
    await expect.poll(() => confirming.filter({ hasText: 'Completed' }).count(), { timeout: 30_000 }).toBe(1);
    expect(await confirming.textContent()).toContain('unsubscribed 80');
    expect(await page.getByRole('button', { name: 'Run and confirm removals' }).count()).toBe(0);
  });

  it('says how an export starts: a snapshot that lands starts a run within seconds, once it is complete', async () => {
    const admin = principalHeader('ada@example.com', [ADMIN_ROLE]);
    const connections = (await (
      await fetch(`${runner.url}/connections`, { headers: { 'x-ms-client-principal': admin } })
    ).json()) as { value: { id: string; displayName: string }[] };
    const main = connections.value.find((c) => c.displayName === 'Main account')!;
    const res = await fetch(`${runner.url}/exports`, {
      method: 'POST',
      headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        displayName: 'On every snapshot',
        connectionId: main.id,
        listId: 1,
        schedule: 'refresh',
        source: { container: 'customerinsights', path: 'CustomerInsights_demo/fresh-destination' },
        mapping: { email: 'Email' },
      }),
    });
    const exp = (await res.json()) as { id: string };
    await page.goto(`${root}#/exports/${exp.id}`);
    await expect.poll(() => page.getByText('None seen since it was set up').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.getByText('When a new snapshot lands', { exact: true }).count()).toBe(1);

    // model.json lands before its partitions: the app sees it and waits for them.
    const writeParts = await writeCdmSegment(h, 'CustomerInsights_demo/fresh-destination', 40, [], {
      modelFirst: true,
    });
    const landed = /\(customerinsights\/CustomerInsights_demo\/fresh-destination\/model\.json\)$/;
    const outlook = async () =>
      (
        (await (
          await fetch(`${runner.url}/exports/${exp.id}`, { headers: { 'x-ms-client-principal': admin } })
        ).json()) as { refresh: { lastEvent?: { blob: string } } }
      ).refresh;
    await expect.poll(async () => (await outlook()).lastEvent?.blob, { timeout: 20_000 }).toMatch(/model\.json$/);
    await page.reload();
    await expect.poll(() => page.getByText(landed).count(), { timeout: 15_000 }).toBe(1);
    expect(
      await page
        .locator('dd')
        .filter({ hasText: /: waits \(/ })
        .count(),
    ).toBe(1);
    expect(await page.getByRole('row').filter({ hasText: 'Completed' }).count()).toBe(0);
    await checkAccessibility('export started by snapshots');

    // Its partitions land: a run starts by itself, long before any scheduled check (set to never here).
    await writeParts();
    const runs = async () =>
      (
        (await (
          await fetch(`${runner.url}/exports/${exp.id}/runs`, { headers: { 'x-ms-client-principal': admin } })
        ).json()) as { value: { status: string }[] }
      ).value;
    await expect.poll(async () => (await runs())[0]?.status, { timeout: 30_000 }).toBe('completed');
    await page.reload();
    const completed = page.getByRole('row').filter({ hasText: 'Completed' });
    await expect.poll(() => completed.count(), { timeout: 15_000 }).toBe(1);
    expect(await completed.textContent()).toContain('upserted 40');
    const deleted = await fetch(`${runner.url}/exports/${exp.id}`, {
      method: 'DELETE',
      headers: { 'x-ms-client-principal': admin, 'content-type': 'application/json' },
    });
    expect(deleted.status).toBe(204);
  });

  it('lets an administrator add a webhook, shows its secret once, sends a signed test event, and lists who did what', async () => {
    await page.getByRole('tab', { name: 'Webhooks' }).click();
    await expect.poll(() => page.getByText(/^No webhooks yet/).count()).toBe(1);
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add webhook' });
    await dialog.getByLabel('Endpoint URL').fill('http://hooks.example.com/segment');
    await dialog.getByRole('button', { name: 'Add webhook' }).click();
    await expect.poll(() => dialog.getByText(/the URL must start with https:\/\//).count()).toBe(1);
    await checkAccessibility('add webhook with an error');
    await dialog.getByLabel('Endpoint URL').fill(receiver.url);
    await dialog.getByRole('checkbox', { name: 'A run started' }).uncheck();
    await dialog.getByRole('button', { name: 'Add webhook' }).click();
    const secretDialog = page.getByRole('alertdialog', { name: 'Signing secret' });
    await expect.poll(() => secretDialog.count()).toBe(1);
    const secret = await secretDialog.getByLabel('Signing secret').inputValue();
    expect(secret).toMatch(/^whsec_/);
    await checkAccessibility('webhook signing secret');
    await secretDialog.getByRole('button', { name: 'I have copied it' }).click();
    const row = page.getByRole('row').filter({ hasText: receiver.url });
    await expect.poll(() => row.textContent()).toContain('run.completed, run.failed, run.guarded');
    expect(await row.textContent()).toContain('Nothing sent yet');
    await row.getByRole('button', { name: /^Send a test event/ }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/^Test event delivered to http:\/\/127/);
    await expect.poll(() => row.textContent()).toContain('Delivered (200)');
    const sample = receiver.received.at(-1)!;
    expect(verifySignature(secret, sample.body, sample.headers['segment-export-signature'] as string)).toBe(true);
    await checkAccessibility('webhooks');

    // The list picker can create a list in the account, which it then chooses.
    await page.getByRole('tab', { name: 'Exports' }).click();
    await page.getByRole('button', { name: 'Add destination' }).click();
    await page.getByRole('combobox', { name: 'Connection for export' }).click();
    await page.getByRole('option', { name: 'Main account' }).click();
    await page.getByRole('button', { name: 'Create a list in ActiveCampaign' }).click();
    const create = page.getByRole('dialog', { name: 'Create a list' });
    await create.getByLabel('List name').fill('Spring sale');
    await create.getByLabel('Website the list is for').fill('not a website');
    await create.getByLabel('Why contacts are on this list').fill('You bought from our shop.');
    await create.getByRole('button', { name: 'Create list' }).click();
    await expect.poll(() => create.getByText(/must be a URL|Invalid URL/i).count()).toBe(1);
    await checkAccessibility('create a list with an error');
    await create.getByLabel('Website the list is for').fill('https://shop.example.com');
    await create.getByRole('button', { name: 'Create list' }).click();
    await expect
      .poll(() => page.getByRole('combobox', { name: 'ActiveCampaign list' }).inputValue())
      .toBe('Spring sale (ID 3)');
    expect(h.emulator.options.lists.at(-1)).toMatchObject({
      id: 3,
      name: 'Spring sale',
      senderUrl: 'https://shop.example.com',
    });

    await page.getByRole('tab', { name: 'Activity' }).click();
    await expect
      .poll(() => page.getByRole('row').filter({ hasText: 'Created a list in ActiveCampaign' }).count())
      .toBe(1);
    const tested = page.getByRole('row').filter({ hasText: 'Sent a test event to a webhook' });
    await expect.poll(() => tested.count()).toBe(1);
    expect(await tested.textContent()).toContain('ada@example.com (Administrator)');
    expect(await page.getByRole('row').filter({ hasText: 'Added a connection' }).count()).toBeGreaterThanOrEqual(1);
    await checkAccessibility('activity');

    // A data-subject request: the contact is deleted in ActiveCampaign; the record keeps no email.
    const person = 'vip7@example.com';
    expect(h.emulator.contacts.has(person)).toBe(true);
    await page.getByRole('button', { name: 'Erase a person…' }).click();
    const erase = page.getByRole('alertdialog', { name: 'Erase a person' });
    await erase.getByLabel('Email address').fill('vip7@');
    await erase.getByLabel('I understand this cannot be undone').check();
    await erase.getByRole('button', { name: 'Erase', exact: true }).click();
    await expect.poll(() => erase.getByText(/invalid email/).count()).toBe(1);
    await checkAccessibility('erase a person with an error');
    await erase.getByLabel('Email address').fill(person);
    await erase.getByRole('button', { name: 'Erase', exact: true }).click();
    // Both connections reach the emulator's one account: the first deletes the contact, the second finds no one.
    await expect
      .poll(() => page.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Erased: Main account: deleted; Shared account: not found');
    expect(h.emulator.contacts.has(person)).toBe(false);
    const erasures = page.getByRole('table', { name: 'Erasures' });
    await expect.poll(() => erasures.getByRole('row').count()).toBe(2);
    expect(await erasures.textContent()).not.toContain(person);
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'Erased a person' }).count()).toBe(1);
    await checkAccessibility('activity with an erasure');
  });

  it('shows a contributor only the shared connection, offers no admin action, and reports API errors next to the field', async () => {
    await page.goto(`${root}.auth/logout`);
    await signIn(page, root, 'carl@example.com', 'Contributor');
    await expect.poll(() => page.getByText('carl@example.com · Contributor').count()).toBe(1);
    await page.getByRole('tab', { name: 'Connections' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'Shared account', exact: true }).count()).toBe(1);
    expect(await page.getByRole('cell', { name: 'Main account', exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add connection' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
    expect(await page.getByRole('tab', { name: 'Webhooks' }).count()).toBe(0);
    expect(await page.getByRole('tab', { name: 'Activity' }).count()).toBe(0);
    await checkAccessibility('connections (contributor)');

    await page.getByRole('tab', { name: 'Exports' }).click();
    await page.getByRole('button', { name: 'Add destination' }).click();
    await page.getByLabel('Display name').fill('Contributor export');
    await page.getByRole('combobox', { name: 'Connection for export' }).click();
    expect(await page.getByRole('option').allTextContents()).toEqual(['Shared account']);
    await page.getByRole('option', { name: 'Shared account' }).click();
    await page.getByRole('combobox', { name: 'ActiveCampaign list' }).fill('77');
    await page.getByLabel('Container').fill('export-runs');
    await page.getByLabel('Path').fill('runs');
    await page.getByRole('combobox', { name: 'Email' }).fill('Email');
    await page.getByRole('button', { name: 'Save' }).click();
    // The container is refused next to its field.
    await expect
      .poll(() => page.getByText(/the container "export-runs" belongs to the app/).count(), { timeout: 15_000 })
      .toBe(1);
    await page.getByLabel('Container').fill('customerinsights');
    await page.getByLabel('Path').fill('CustomerInsights_demo/vip-destination');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => page.getByText('ActiveCampaign list 77 does not exist').count(), { timeout: 15_000 })
      .toBe(1);
    await checkAccessibility('add destination with errors');
  });

  it('has no serious or critical accessibility violation on any page', () => {
    expect(Object.keys(violations).length).toBeGreaterThanOrEqual(16);
    expect(Object.entries(violations).filter(([, found]) => found.length > 0)).toEqual([]);
  });

  it('refuses the development sign-in when the app runs in Azure', async () => {
    // The runner itself refuses to start in Azure without Key Vault; its sign-in module is checked on its own.
    const server = createServer((req, res) => {
      void serveDevSignIn(req, res, new URL(req.url!, 'http://x').pathname).then((served) => {
        if (served) return;
        applyDevSession(req);
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ principal: req.headers['x-ms-client-principal'] ?? null }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const before = process.env.WEBSITE_INSTANCE_ID;
    try {
      process.env.WEBSITE_INSTANCE_ID = 'azure-instance';
      const res = await fetch(`${base}/.auth/login/dev`);
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/not available when the app runs in Azure/);
      expect(await (await fetch(`${base}/api/me`, { headers: { cookie: 'dev-principal=anything' } })).json()).toEqual({
        principal: null,
      });
      delete process.env.WEBSITE_INSTANCE_ID;
      expect((await fetch(`${base}/.auth/login/dev`)).status).toBe(200);
      expect(await (await fetch(`${base}/api/me`, { headers: { cookie: 'dev-principal=abc' } })).json()).toEqual({
        principal: 'abc',
      });
      // A request that carries the header is taken as it is.
      expect(
        await (
          await fetch(`${base}/api/me`, { headers: { cookie: 'dev-principal=abc', 'x-ms-client-principal': 'xyz' } })
        ).json(),
      ).toEqual({ principal: 'xyz' });
    } finally {
      if (before === undefined) delete process.env.WEBSITE_INSTANCE_ID;
      else process.env.WEBSITE_INSTANCE_ID = before;
      await new Promise((r) => server.close(r));
    }
  });
});
