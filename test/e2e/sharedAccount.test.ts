import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport } from '../../shared/exports/exportService.js';
import type { Export, Run } from '../../shared/model.js';
import { startRun } from '../../shared/runs/runLifecycle.js';
import { sendWindow } from '../../shared/runs/sendWindow.js';
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
 * Two exports on one ActiveCampaign account share its budget: a small run started while a large one sends is not
 * held behind the large run's batches (each run keeps three watcher intervals of the account's imports waiting, at
 * least 10 s: 10 batches here, 15 s by default).
 */

// Four requests a second (an import and its status checks): about two imports a second, 25 s for the large run.
const REQUESTS_PER_SECOND = 4;
// 60 imports a minute: the window is 10 s of them, 10 batches (the run fits in the minute's burst, so four requests a
// second are what paces it).
const IMPORTS_PER_MINUTE = 60;
const LARGE_BATCHES = 50;
const SMALL_CONTACTS = 500;

describe('two runs on one ActiveCampaign account', () => {
  let h: Harness;
  let runner: RunnerProcess;

  beforeAll(async () => {
    h = await startHarness({
      // The import requests' bodies say which run each import belongs to.
      recordBodies: true,
      requestsPerSecond: REQUESTS_PER_SECOND,
      bulkImportsPerMinute: IMPORTS_PER_MINUTE,
      lists: [
        { id: 1, name: 'Everyone' },
        { id: 2, name: 'Newcomers' },
      ],
    });
    runner = await startRunnerProcess(h.env, ['--triggers', 'queue']);
  });

  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  const segment = (prefix: string, rows: number) =>
    ['Email', ...Array.from({ length: rows }, (_, i) => `${prefix}${i}@example.com`)].join('\n') + '\n';

  it('lets a small run finish while a large one sends, and the large one still sends everything', async () => {
    await uploadText(h.blobs, 'segments', 'large.csv', segment('large', LARGE_BATCHES * 250));
    await uploadText(h.blobs, 'segments', 'small.csv', segment('small', SMALL_CONTACTS));
    const connectionId = await connectToEmulator(h);
    const exportOf = (name: string, listId: number): Promise<Export> =>
      createExport(h.svc, adminCaller, {
        displayName: name,
        connectionId,
        listId,
        source: { container: 'segments', path: `${name}.csv` },
        mapping: { email: 'Email' },
      });
    const large = await exportOf('large', 1);
    const small = await exportOf('small', 2);

    const largeRun = await startRun(h.svc, large, { trigger: 'manual' });
    // The large run is sending, with most of its batches still to go.
    await waitFor('the large run to send', async () => {
      const r = await h.svc.runs.getRun(large.id, largeRun.runId);
      return r?.status === 'sending' && r.batches.done >= 1 ? r : undefined;
    });
    const smallRun = await startRun(h.svc, small, { trigger: 'manual' });
    // Measured from the moment the small run's batches go on the queue: how long it plans on a busy machine is not
    // the budget's doing.
    const enqueuedAt = await waitFor('the small run to send', async () => {
      const r = await h.svc.runs.getRun(small.id, smallRun.runId);
      return r && r.status !== 'queued' && r.status !== 'planning' ? Date.now() : undefined;
    });
    const smallDone = await waitFor(
      'the small run to finish',
      async () => {
        const r = await h.svc.runs.getRun(small.id, smallRun.runId);
        return r?.finishedAt ? r : undefined;
      },
      120_000,
    );
    expect(smallDone.counts.upserted).toBe(SMALL_CONTACTS);
    const accepted = h.emulator.requests.filter((r) => r.kind === 'bulkImport' && !r.refusedForRate);
    const isSmall = (r: (typeof accepted)[number]) =>
      (r.requestBody as { contacts: { email: string }[] }).contacts[0].email.startsWith('small');
    const smallLast = Math.max(...accepted.filter(isSmall).map((r) => r.at));
    const largeImports = accepted.filter((r) => !isSmall(r));
    // Ahead of the small run's batches: at most the large run's window on the queue (10 batches), and at most a
    // window more beside them at the budget's gate. The runner, like the host, takes up to 16 messages in one
    // receive and handles them at once: large batches the watcher queued after the small run's message can come in
    // the same receive and reach the gate first (the gate serves whoever asks first, not the queue's order). Held
    // behind every batch the large run had left, the small run would have waited for all of them, and the large run
    // would have sent nothing after it.
    const window = sendWindow(h.svc.config);
    expect(window).toBe(10);
    expect(largeImports.filter((r) => r.at >= enqueuedAt && r.at <= smallLast).length).toBeLessThanOrEqual(2 * window);
    expect(largeImports.filter((r) => r.at > smallLast).length).toBeGreaterThan(0);

    const done: Run = await waitFor(
      'the large run to finish',
      async () => {
        const r = await h.svc.runs.getRun(large.id, largeRun.runId);
        return r?.finishedAt ? r : undefined;
      },
      120_000,
    );
    expect(done.counts.upserted).toBe(LARGE_BATCHES * 250);
    // How busy the large run kept ActiveCampaign is a measurement: npm run bench (run 3's window fill, with a small
    // export beside it). Here: every import was accepted, none refused for rate.
    const imports = h.emulator.requests.filter((r) => r.kind === 'bulkImport');
    expect(imports.filter((r) => !r.refusedForRate)).toHaveLength(LARGE_BATCHES + 2);
    // The emulator paces the runs (four requests a second: at least 30 s of sending), and a busy machine slows the
    // rest: the test's bound is the large run's own (120 s), not the default 60 s, which would time the machine.
  }, 180_000);
});
