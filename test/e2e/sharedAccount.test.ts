import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport } from '../../shared/exports/exportService.js';
import type { Export, Run } from '../../shared/model.js';
import { startRun } from '../../shared/runs/runLifecycle.js';
import {
  adminCaller,
  connectToEmulator,
  runToEnd,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

/**
 * Two exports on one ActiveCampaign account share its budget: a small run started while a large one sends is not
 * held behind the large run's batches (each run keeps three watcher intervals of the account's imports waiting: 3 s
 * here, 15 s by default), and the large run still uses the whole budget.
 */

// Four requests a second (an import and its status checks): about two imports a second, 25 s for the large run.
const REQUESTS_PER_SECOND = 4;
const IMPORTS_PER_MINUTE = 120;
const LARGE_BATCHES = 50;
const SMALL_CONTACTS = 500;

describe('two runs on one ActiveCampaign account', () => {
  let h: Harness;
  let runner: RunnerProcess;

  beforeAll(async () => {
    h = await startHarness({
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

  it('lets a small run finish while a large one sends, and the large one keeps the account’s budget busy', async () => {
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
      return r?.status === 'sending' && r.batches.done >= 5 ? r : undefined;
    });
    const smallRun = await runToEnd(h, small);
    const largeNow = (await h.svc.runs.getRun(large.id, largeRun.runId))!;
    expect(smallRun.counts.upserted).toBe(SMALL_CONTACTS);
    // Held behind every batch the large run had left, it would have finished with the last of them.
    const smallSeconds = (Date.parse(smallRun.finishedAt!) - Date.parse(smallRun.startedAt)) / 1000;
    expect(largeNow.finishedAt).toBeUndefined();
    expect(largeNow.batches.done).toBeLessThan(LARGE_BATCHES - 10);
    expect(smallSeconds).toBeLessThan(20);

    const done: Run = await waitFor(
      'the large run to finish',
      async () => {
        const r = await h.svc.runs.getRun(large.id, largeRun.runId);
        return r?.finishedAt ? r : undefined;
      },
      120_000,
    );
    expect(done.counts.upserted).toBe(LARGE_BATCHES * 250);
    // The account's budget never ran dry while the large run waited for its next batches: from the first import to
    // the last, ActiveCampaign was sent requests (imports and their status checks) at the rate it allows.
    const accepted = h.emulator.requests.filter((r) => !r.refusedForRate);
    const imports = accepted.filter((r) => r.kind === 'bulkImport').map((r) => r.at);
    expect(imports).toHaveLength(LARGE_BATCHES + 2);
    const [first, last] = [imports[0], imports.at(-1)!];
    const between = accepted.filter((r) => r.at >= first && r.at <= last).length;
    expect(between / ((last - first) / 1000) / REQUESTS_PER_SECOND).toBeGreaterThan(0.9);
  });
});
