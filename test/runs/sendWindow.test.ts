import { beforeEach, describe, expect, it } from 'vitest';
import type { Export } from '../../shared/model.js';
import { newRunId, pendingBatch, type BatchState, type RunRecord } from '../../shared/runs/runModel.js';
import { QUEUES, type BatchMessage } from '../../shared/runs/runQueues.js';
import {
  batchesPerMessage,
  batchesWaiting,
  messagesWanted,
  sendWindow,
  startSendingBatches,
} from '../../shared/runs/sendWindow.js';
import { watchRun } from '../../shared/runs/watchRun.js';
import { memoryEngine, sendingRun, type MemoryEngine } from '../support/memoryPorts.js';

/**
 * A run's batches go on the queue a window at a time, so that a run started after it on the same account is not
 * held behind all of them (the end-to-end proof with two runs: e2e/sharedAccount.test.ts).
 */

const batch = (runId: string, n: number, status: BatchState['status'] = 'pending'): BatchState =>
  pendingBatch(runId, n, 250, { status, upserted: status === 'completed' ? 250 : 0 });

describe('the send window', () => {
  it('holds three watcher intervals of the account’s imports (15 s by default, at least 10 s), 40 a second with the budget off', () => {
    expect(sendWindow({ bulkImportsPerMinute: 100, importPollIntervalInMs: 5_000 })).toBe(25);
    expect(sendWindow({ bulkImportsPerMinute: 100, importPollIntervalInMs: 10_000 })).toBe(50);
    // Short intervals get 10 s: a watcher late on a busy machine must not let the budget run dry.
    expect(sendWindow({ bulkImportsPerMinute: 120, importPollIntervalInMs: 1_000 })).toBe(20);
    expect(sendWindow({ bulkImportsPerMinute: 30, importPollIntervalInMs: 1_000 })).toBe(8);
    // With the budget off (an emulator) the window is still bounded: 15 s of 40 imports a second.
    expect(sendWindow({ bulkImportsPerMinute: 0, importPollIntervalInMs: 5_000 })).toBe(600);
    expect(sendWindow({ bulkImportsPerMinute: 0, importPollIntervalInMs: 1_000 })).toBe(400);
  });

  it('asks for messages until the window’s batches wait on the queue, never past the plan', () => {
    const plan = { batches: 4000, messages: 500, enqueued: 0 };
    expect(batchesPerMessage(plan.batches)).toBe(8);
    expect(messagesWanted(plan, 25, 0)).toBe(4);
    expect(messagesWanted({ ...plan, enqueued: 4 }, 25, 30)).toBe(4);
    expect(messagesWanted({ ...plan, enqueued: 4 }, 25, 9)).toBe(6);
    expect(messagesWanted({ ...plan, enqueued: 499 }, 25, 0)).toBe(500);
    expect(messagesWanted(plan, Infinity, 0)).toBe(500);
  });

  it('counts as waiting the enqueued batches not accepted yet', () => {
    const plan = { batches: 10, enqueued: 4 };
    const batches = [
      batch('r', 1, 'completed'),
      batch('r', 2, 'sending'),
      batch('r', 3, 'pending'),
      batch('r', 4, 'pending'),
      batch('r', 5, 'pending'),
    ];
    expect(batchesWaiting(plan, batches)).toBe(3);
  });
});

describe('a run on the queue', () => {
  let engine: MemoryEngine;
  let run: RunRecord;
  const BATCHES = 40;

  beforeEach(async () => {
    // 90 imports a minute, a watcher every second: 10 s of imports, 15 batches, wait to be sent.
    engine = memoryEngine(undefined, { ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: '90' });
    engine.exports.records.set('e1', { id: 'e1', schedule: 'manual' } as Export);
    run = sendingRun({
      runId: newRunId(),
      exportId: 'e1',
      plan: {
        read: BATCHES * 250,
        rejected: 0,
        duplicate: 0,
        unchanged: 0,
        batches: BATCHES,
        messages: BATCHES,
        enqueued: 0,
        rejectedReasons: {},
      },
    });
    await engine.runs.createRun(run);
    for (let n = 1; n <= BATCHES; n++) await engine.runs.createBatch(batch(run.runId, n));
  });

  const sentBatches = () => engine.queues.take<BatchMessage>(QUEUES.batches).map((m) => m.message.batch);

  it('gets the first window from the planner and the rest from its watcher as batches are taken up', async () => {
    await startSendingBatches(engine, run);
    expect(sentBatches()).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    const [watch] = engine.queues.take(QUEUES.watch);
    // Nothing was taken up: the watcher adds nothing.
    await watchRun(engine, watch.message as never);
    expect(sentBatches()).toEqual([]);
    // Ten were accepted, two more are being sent: ten more go on the queue.
    for (let n = 1; n <= 12; n++)
      await engine.runs.updateBatch(run.runId, n, (b) => ({
        ...b,
        status: n <= 4 ? 'completed' : n <= 10 ? 'submitted' : 'sending',
      }));
    const [next] = engine.queues.take(QUEUES.watch);
    await watchRun(engine, next.message as never);
    expect(sentBatches()).toEqual(Array.from({ length: 10 }, (_, i) => i + 16));
    expect((await engine.runs.getRun('e1', run.runId))!.plan!.enqueued).toBe(25);
  });

  it('enqueues nothing more once the run was cancelled', async () => {
    await startSendingBatches(engine, run);
    sentBatches();
    await engine.runs.updateRun('e1', run.runId, (r) => ({ ...r, status: 'cancelled' }));
    for (let n = 1; n <= 15; n++) await engine.runs.updateBatch(run.runId, n, (b) => ({ ...b, status: 'sending' }));
    const [watch] = engine.queues.take(QUEUES.watch);
    await watchRun(engine, watch.message as never);
    expect(sentBatches()).toEqual([]);
  });
});
