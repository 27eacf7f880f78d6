import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport } from '../../shared/exports/exportService.js';
import { TERMINAL_STATUSES, type Export, type Run } from '../../shared/model.js';
import { SEGMENT_QUEUES } from '../../shared/runs/runQueues.js';
import { blobCreatedEvent } from '../../tools/localRunner/blobEvents.js';
import {
  adminCaller,
  connectToEmulator,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

/**
 * A new snapshot starts its run when it lands, not at the next tick: the local runner raises the
 * blob-created events Event Grid raises in Azure, on the same queue and in the same shape, and the
 * same functions handle them. The scheduled refresh never fires here (REFRESH_SCHEDULE is a year
 * away) except in the fallback test, which turns events off.
 */
describe('runs started by blob events (local runner, Azurite, emulator)', () => {
  const QUIET_SECONDS = 2;
  let h: Harness;
  let runner: RunnerProcess;
  let connectionId: string;

  beforeAll(async () => {
    h = await startHarness(
      { requestsPerSecond: 50, bulkImportsPerMinute: 3_000 },
      { SNAPSHOT_QUIET_SECONDS: String(QUIET_SECONDS) },
    );
    runner = await startRunnerProcess(h.env, ['--triggers', 'queue,events']);
    connectionId = await connectToEmulator(h);
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  const refreshExport = (name: string, path: string) =>
    createExport(h.svc, adminCaller, {
      displayName: name,
      connectionId,
      listId: 1,
      source: { container: 'customerinsights', path },
      mapping: { email: 'Email' },
      schedule: 'refresh',
    });
  const runsOf = async (exp: Export) => (await h.svc.runs.listRuns(exp.id)).runs;
  const finished = (exp: Export, count: number) =>
    waitFor(
      `${count} finished run(s) of ${exp.displayName}`,
      async () => {
        const runs = await runsOf(exp);
        return runs.length >= count && runs.every((r) => TERMINAL_STATUSES.has(r.status) && r.finishedAt)
          ? runs
          : undefined;
      },
      60_000,
    );
  /** The export's check has run since the last event (nothing is on its way). */
  const settled = (exp: Export) =>
    waitFor(`the check of ${exp.displayName}`, async () => {
      const check = await h.svc.snapshotChecks.get(exp.id);
      return check?.lastEventAt && !check.checkId ? check : undefined;
    });

  /** A Customer Insights export destination: partitions first, model.json last, as Customer Insights writes it. */
  async function writeCdm(folder: string, emails: string[]): Promise<number> {
    const halves = [emails.slice(0, emails.length / 2), emails.slice(emails.length / 2)];
    for (const [i, part] of halves.entries())
      await uploadText(
        h.blobs,
        'customerinsights',
        `${folder}/Vip/part-${i}.csv`,
        part.map((e) => `${e}\r\n`).join(''),
      );
    const model = {
      name: 'CustomerInsights',
      entities: [
        {
          $type: 'LocalEntity',
          name: 'Vip',
          attributes: [{ name: 'Email', dataType: 'string' }],
          partitions: halves.map((_, i) => ({
            name: `part-${i}`,
            location: `https://contoso.blob.core.windows.net/customerinsights/${folder}/Vip/part-${i}.csv`,
            fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: false, delimiter: ',' },
          })),
        },
      ],
    };
    await uploadText(h.blobs, 'customerinsights', `${folder}/model.json`, JSON.stringify(model));
    return Date.now();
  }

  it('starts a run within seconds of a complete Common Data Model snapshot, and exports each snapshot once (a duplicate or late event starts nothing)', async () => {
    const exp = await refreshExport('cdm', 'cdm/model.json');
    const emails = Array.from({ length: 40 }, (_, i) => `cdm${i}@example.com`);
    const landed = await writeCdm('cdm', emails);
    const run = await waitFor('a run started by the snapshot', async () => (await runsOf(exp))[0], 20_000);
    expect(Date.parse(run.startedAt) - landed).toBeLessThan(15_000);
    expect(run.trigger).toBe('schedule');
    const [done] = await finished(exp, 1);
    expect(done.counts).toMatchObject({ read: 40, upserted: 40 });
    const first = await settled(exp);
    expect(first.lastEventBlob).toMatch(/^customerinsights\/cdm\//);

    // Event Grid delivers at least once: the same events again, and a late one, change nothing.
    const again = blobCreatedEvent(h.blobs, 'customerinsights', 'cdm/model.json', {
      etag: '"0x1"',
      contentLength: 10,
      contentType: 'application/json',
    });
    await h.svc.queues.send(SEGMENT_QUEUES.events, again);
    await h.svc.queues.send(SEGMENT_QUEUES.events, { ...again, eventTime: '2020-01-01T00:00:00Z' });
    await waitFor('the duplicate events to be checked', async () => {
      const check = await h.svc.snapshotChecks.get(exp.id);
      return check && check.lastEventAt !== first.lastEventAt && !check.checkId ? check : undefined;
    });
    expect(await runsOf(exp)).toHaveLength(1);

    // A new snapshot is a new run.
    await writeCdm('cdm', [...emails, 'cdm-new@example.com']);
    const runs = await finished(exp, 2);
    expect(runs[0].counts).toMatchObject({ read: 41, unchanged: 40, upserted: 1 });
  });

  it('waits out the quiet period of a folder snapshot: the run starts once its files stopped changing, with all of them', async () => {
    const exp = await refreshExport('folder', 'folder');
    await uploadText(h.blobs, 'customerinsights', 'folder/a.csv', 'Email\r\nfa@example.com\r\n');
    await new Promise((r) => setTimeout(r, 1_000));
    await uploadText(h.blobs, 'customerinsights', 'folder/b.csv', 'Email\r\nfb@example.com\r\n');
    const lastWrite = (
      await h.blobs.getContainerClient('customerinsights').getBlobClient('folder/b.csv').getProperties()
    ).lastModified!.getTime();
    const [run] = await finished(exp, 1);
    expect(Date.parse(run.startedAt)).toBeGreaterThanOrEqual(lastWrite + QUIET_SECONDS * 1000 - 1000);
    expect(run.counts).toMatchObject({ read: 2, upserted: 2 });
  });

  it('turns a burst of 300 blobs of one snapshot into one run, and leaves blobs no export reads alone', async () => {
    const exp = await refreshExport('burst', 'burst');
    const other = await refreshExport('other', 'other');
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        uploadText(h.blobs, 'customerinsights', `burst/part-${i}.csv`, `Email\r\nburst${i}@example.com\r\n`),
      ),
    );
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        uploadText(h.blobs, 'unrelated', `x/${i}.csv`, 'Email\r\nx@example.com\r\n'),
      ),
    );
    const runs: Run[] = await finished(exp, 1);
    expect(runs).toHaveLength(1);
    expect(runs[0].counts).toMatchObject({ read: 300, upserted: 300 });
    await settled(exp);
    expect(await runsOf(exp)).toHaveLength(1);
    expect(await runsOf(other)).toEqual([]);
    expect(await h.svc.snapshotChecks.get(other.id)).toBeUndefined();
  });

  it('finds a snapshot whose event was lost at the next scheduled tick (events off, the timer on)', async () => {
    await runner.stop();
    runner = await startRunnerProcess({ ...h.env, REFRESH_SCHEDULE: '*/2 * * * * *' }, ['--triggers', 'queue,timer']);
    const exp = await refreshExport('fallback', 'fallback');
    await uploadText(h.blobs, 'customerinsights', 'fallback/a.csv', 'Email\r\nfallback@example.com\r\n');
    const [run] = await finished(exp, 1);
    expect(run.counts).toMatchObject({ read: 1, upserted: 1 });
    expect(await h.svc.snapshotChecks.get(exp.id)).toBeUndefined();
  });
});
