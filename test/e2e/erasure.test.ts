/**
 * Erasing a person (a data-subject request), through the API and the local runner: the contact goes
 * from ActiveCampaign (or only off the exports' lists), the email from every export's state and from
 * the run files that outlive a run, and the app keeps a record and an audit entry without the email.
 * A later snapshot that still holds the person sends it again, with a warning on the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE, principalHeader } from '../../shared/auth/principal.js';
import { createExport } from '../../shared/exports/exportService.js';
import type { Export, Run } from '../../shared/model.js';
import { startRun } from '../../shared/runs/runLifecycle.js';
import { runFileNames } from '../../shared/store/runFiles.js';
import {
  adminCaller,
  api,
  connectToEmulator,
  runToEnd,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

const admin = principalHeader('ada@example.com', [ADMIN_ROLE]);
const contributor = principalHeader('carl@example.com', [CONTRIBUTOR_ROLE]);

describe('erasing a person', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let connectionId: string;
  let news: Export;
  let vip: Export;
  let newsRun: Run;
  let vipRun: Run;
  let dryRun: Run;

  const call = (method: string, path: string, body?: unknown, principal: string | null = admin) =>
    api(runner.url, method, path, body, principal);
  const stateOf = async (exp: Export) => {
    const emails: string[] = [];
    for await (const entries of h.svc.exportState.entries(await h.svc.exportState.pointer(exp.id)))
      emails.push(...entries.map(([email]) => email));
    return emails.sort();
  };
  const runFilesText = async (run: Run) => {
    const container = await h.svc.runFiles.ready();
    let text = '';
    for await (const b of container.listBlobsFlat({ prefix: runFileNames.runPrefix(run.runId) }))
      text += (await container.getBlobClient(b.name).downloadToBuffer()).toString('utf8');
    return text;
  };

  beforeAll(async () => {
    h = await startHarness({
      requestsPerSecond: 100,
      bulkImportsPerMinute: 6_000,
      lists: [
        { id: 1, name: 'Newsletter' },
        { id: 2, name: 'VIP' },
      ],
    });
    runner = await startRunnerProcess(h.env, ['--triggers', 'http,queue']);
    connectionId = await connectToEmulator(h);
    await uploadText(
      h.blobs,
      'people',
      'news.csv',
      'email,phone\nPat@Example.com,\nquinn@example.com,\nblocked@example.com,\nrene@example.com,12ab\n-dash@example.com,\n',
    );
    // The VIP segment holds Pat with a phone ActiveCampaign would refuse: a rejected row that names Pat.
    await uploadText(h.blobs, 'people', 'vip.csv', 'email,phone\npat@example.com,not-a-phone\nquinn@example.com,\n');
    const exportOf = (name: string, listId: number) =>
      createExport(h.svc, adminCaller, {
        displayName: name,
        connectionId,
        listId,
        mode: 'mirror',
        source: { container: 'people', path: `${name}.csv` },
        mapping: { email: 'email', phone: 'phone' },
      });
    news = await exportOf('news', 1);
    vip = await exportOf('vip', 2);
    // ActiveCampaign refuses one address: its email is kept among the run's failed emails.
    h.emulator.faults.rejectInValidation = (email) => email.startsWith('blocked');
    newsRun = await runToEnd(h, news);
    vipRun = await runToEnd(h, vip);
    dryRun = await runToEnd(h, news, { dryRun: true, fullSync: true });
    h.emulator.faults.rejectInValidation = undefined;
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  it('deletes the contact and takes the email out of every state and run file; the record holds no email', async () => {
    expect(h.emulator.contacts.has('pat@example.com')).toBe(true);
    expect(await stateOf(news)).toContain('pat@example.com');
    expect(await runFilesText(newsRun)).toContain('pat@example.com');
    expect(await runFilesText(vipRun)).toContain('pat@example.com');
    expect(await runFilesText(dryRun)).toContain('pat@example.com');

    expect((await call('POST', '/erasures', { email: 'pat@example.com', action: 'delete' }, contributor)).status).toBe(
      403,
    );
    const bad = await call('POST', '/erasures', { email: 'not an email', action: 'delete' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^email: invalid email/);
    expect((await call('POST', '/erasures', { email: 'pat@example.com', action: 'forget' })).status).toBe(400);

    const erased = await call('POST', '/erasures', { email: '  PAT@example.COM ', action: 'delete' });
    expect(erased.status).toBe(201);
    expect(erased.body).toMatchObject({
      by: 'ada@example.com',
      action: 'delete',
      activeCampaign: [{ connectionId, outcome: 'deleted' }],
      exports: expect.arrayContaining([
        { id: news.id, displayName: 'news', inState: true },
        { id: vip.id, displayName: 'vip', inState: false },
      ]) as unknown,
    });
    expect(erased.body.filesRewritten).toBeGreaterThanOrEqual(3);
    expect(h.emulator.contacts.has('pat@example.com')).toBe(false);
    expect(h.emulator.contacts.has('quinn@example.com')).toBe(true);
    expect(await stateOf(news)).toEqual(['-dash@example.com', 'quinn@example.com']);
    for (const run of [newsRun, vipRun, dryRun]) {
      const text = await runFilesText(run);
      expect(text.toLowerCase()).not.toContain('pat@example.com');
    }
    // What else the files held is still there.
    expect(await runFilesText(newsRun)).toContain('rene@example.com');
    expect(await runFilesText(newsRun)).toContain('blocked@example.com');
    expect(await runFilesText(vipRun)).toContain('file,row,email,reason');

    const listed = await call('GET', '/erasures');
    expect(listed.body.value).toHaveLength(1);
    const audit = await call('GET', '/audit?top=1');
    expect(audit.body.value[0]).toMatchObject({
      action: 'erasure.completed',
      actor: { name: 'ada@example.com', role: 'admin' },
      target: { type: 'erasure', id: erased.body.id },
      details: { action: 'delete', exports: 2, inState: 1 },
    });
    expect(JSON.stringify([listed.body, audit.body]).toLowerCase()).not.toContain('pat@example.com');
    expect((await call('GET', '/erasures', undefined, contributor)).status).toBe(403);
  });

  it('warns on a later run that sends the erased person again (the snapshot still holds them)', async () => {
    const again = await runToEnd(h, news);
    expect(again.warnings).toEqual([
      expect.stringMatching(
        /^1 contact\(s\) erased on request \(the first on \d{4}-\d\d-\d\d\) are in this snapshot again, and were sent again: exclude them/,
      ),
    ]);
    expect(h.emulator.contacts.has('pat@example.com')).toBe(true);
    const shown = await call('GET', `/exports/${news.id}/runs/${again.runId}`);
    expect(shown.body.warnings).toEqual(again.warnings);
  });

  it('only unsubscribes when asked, from the lists of the exports on each account', async () => {
    const erased = await call('POST', '/erasures', { email: 'quinn@example.com', action: 'unsubscribe' });
    expect(erased.status).toBe(201);
    expect(erased.body.activeCampaign).toEqual([
      { connectionId, displayName: 'emulator', outcome: 'unsubscribed from list(s) 1, 2' },
    ]);
    const quinn = h.emulator.contacts.get('quinn@example.com')!;
    expect(quinn.lists).toEqual({ '1': 2, '2': 2 });
    expect(await stateOf(vip)).not.toContain('quinn@example.com');
  });

  it('finds an email the CSV files keep from a spreadsheet’s formulas (a leading -)', async () => {
    expect(await runFilesText(newsRun)).toContain("'-dash@example.com");
    const erased = await call('POST', '/erasures', { email: '-dash@example.com', action: 'delete' });
    expect(erased.status).toBe(201);
    expect(erased.body.exports).toContainEqual({ id: news.id, displayName: 'news', inState: true });
    expect(await runFilesText(newsRun)).not.toContain('dash@example.com');
    expect(await stateOf(news)).not.toContain('-dash@example.com');
  });

  it('is refused while an export has an active run (its end would write the email back), changing nothing', async () => {
    h.emulator.faults.delayInMs = 3_000;
    const run = await startRun(h.svc, vip, { trigger: 'manual', fullSync: true });
    const refused = await call('POST', '/erasures', { email: 'rene@example.com', action: 'delete' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('has an active run');
    h.emulator.faults.delayInMs = 0;
    await waitFor('the run', async () => ((await h.svc.runs.getRun(vip.id, run.runId))?.finishedAt ? true : undefined));
    expect((await call('GET', '/erasures')).body.value).toHaveLength(3);
    // The exports held by the refused erasure were let go: a run starts again.
    expect((await call('POST', `/exports/${news.id}/runs`, { dryRun: true })).status).toBe(202);
  });
});
