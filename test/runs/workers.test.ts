import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ImportContact } from '../../shared/activecampaign/client.js';
import type { Connection, Export } from '../../shared/model.js';
import { checkImport, checkImports } from '../../shared/runs/checkImport.js';
import { FAILURE_LIMITS } from '../../shared/runs/failurePolicy.js';
import { handlePoisoned } from '../../shared/runs/poisonedMessages.js';
import { newRunId, pendingBatch, type BatchState, type RunRecord } from '../../shared/runs/runModel.js';
import {
  QUEUES,
  SEGMENT_QUEUES,
  splitImportCheck,
  type BatchMessage,
  type ImportCheckMessage,
  type SnapshotCheckMessage,
  type WatchMessage,
} from '../../shared/runs/runQueues.js';
import { CHECK_DELAY_IN_MS } from '../../shared/runs/checkSchedule.js';
import { sendBatch, sendBatches } from '../../shared/runs/sendBatch.js';
import { watchRun } from '../../shared/runs/watchRun.js';
import { startActiveCampaignEmulator, type ActiveCampaignEmulator } from '../../tools/acEmulator/server.js';
import { breakFor, memoryEngine, sendingRun, type MemoryEngine } from '../support/memoryPorts.js';

/**
 * Each worker's handling of failures, against the engine's ports in memory and the ActiveCampaign
 * emulator on loopback: what it does with each answer of failurePolicy.ts, in milliseconds. The
 * Azurite end-to-end tests (e2e/faults, e2e/resilience) prove the same with real storage and queues.
 */

const CONTACTS: ImportContact[] = ['a', 'b', 'c'].map((n) => ({
  email: `${n}@example.com`,
  first_name: n,
  subscribe: [{ listid: '1' }],
}));

let emulator: ActiveCampaignEmulator;
let engine: MemoryEngine;
let run: RunRecord;
let message: BatchMessage;

beforeAll(async () => {
  emulator = await startActiveCampaignEmulator({ requestsPerSecond: 0, bulkImportsPerMinute: 0, importPhaseInMs: 5 });
});
afterAll(async () => {
  await emulator?.close();
});

beforeEach(async () => {
  emulator.faults = {};
  engine = memoryEngine(emulator, { ACTIVECAMPAIGN_TIMEOUT_SECONDS: '0.3' });
  const connection: Connection = {
    id: 'c1',
    displayName: 'Emulator',
    hostname: emulator.hostname,
    allowContributors: true,
    dataPrivacyConsent: { givenBy: 'admin@example.com', givenAt: '2026-01-01T00:00:00Z' },
    createdAt: '2026-01-01T00:00:00Z',
    createdBy: 'admin@example.com',
  };
  const exp: Export = {
    id: 'e1',
    displayName: 'Workers',
    connectionId: 'c1',
    listId: 1,
    source: { container: 'segments', path: 'seg.csv' },
    mapping: { email: 'email' },
    mode: 'upsert',
    schedule: 'manual',
    tags: [],
    runAutomations: false,
    removeTagsWhenLeaving: false,
    removalGuardPercent: 10,
    fieldTypes: {},
    createdAt: '2026-01-01T00:00:00Z',
    createdBy: 'admin@example.com',
  };
  engine.connections.records.set('c1', connection);
  engine.exports.records.set('e1', exp);
  run = sendingRun({
    runId: newRunId(),
    exportId: 'e1',
    plan: {
      read: 3,
      rejected: 0,
      duplicate: 0,
      unchanged: 0,
      batches: 1,
      messages: 1,
      enqueued: 1,
      rejectedReasons: {},
    },
    watchId: 'w0',
  });
  await engine.runs.createRun(run);
  await engine.runs.createBatch(batchState());
  await engine.runFiles.writeBatch(run.runId, 1, CONTACTS);
  message = { exportId: 'e1', runId: run.runId, batch: 1 };
});

const batchState = (extra: Partial<BatchState> = {}): BatchState => pendingBatch(run.runId, 1, CONTACTS.length, extra);
const batch = async () => (await engine.runs.getBatch(run.runId, 1))!;
const currentRun = async () => (await engine.runs.getRun('e1', run.runId))!;
const imports = () =>
  emulator.requests.filter((r) => r.path.startsWith('/api/3/import/bulk_import') && r.status === 200);
const setRun = (change: Partial<RunRecord>) => engine.runs.updateRun('e1', run.runId, (r) => ({ ...r, ...change }));
const setBatch = (change: Partial<BatchState>) => engine.runs.updateBatch(run.runId, 1, (s) => ({ ...s, ...change }));
/** Waits until the emulator has applied its imports (a few phases of 5 ms). */
const importsApplied = () => new Promise((resolve) => setTimeout(resolve, 50));

/** Sends the batch and gives back its import check message. */
async function sendAndTakeCheck(m: BatchMessage = message): Promise<ImportCheckMessage> {
  expect(await sendBatch(engine, m)).toBe('submitted');
  const [check] = engine.queues.take<ImportCheckMessage>(QUEUES.importCheck);
  return check.message;
}

describe('the send worker carries out the failure rule', () => {
  it('posts a batch once and hands its import to the import check', async () => {
    const before = imports().length;
    const check = await sendAndTakeCheck();
    expect(check).toMatchObject({ exportId: 'e1', runId: run.runId, batch: 1, importId: expect.any(String) });
    expect(await batch()).toMatchObject({ status: 'submitted', importId: check.importId, attempts: 1 });
    // A redelivered message sends nothing again.
    expect(await sendBatch(engine, message)).toBe('skipped');
    expect(imports().length - before).toBe(1);
  });

  it('puts a throttled post back with the delay asked and its throttle counted; the next delivery, with its claim, sends it', async () => {
    const before = imports().length;
    emulator.faults.throttleUntil = Date.now() + 60_000;
    expect(await sendBatch(engine, message)).toBe('deferred');
    const [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect(back.delayInMs).toBeGreaterThanOrEqual(59_000);
    expect(back.message).toMatchObject({
      throttles: 1,
      throttledSince: expect.any(Number),
      claimId: expect.any(String),
    });
    expect(await batch()).toMatchObject({ status: 'sending', postingAt: undefined, failed: 0 });
    emulator.faults = {};
    await sendAndTakeCheck(back.message);
    expect(imports().length - before).toBe(1);
  });

  it('fails the batch and stops the run when the key is refused, saying what to do', async () => {
    emulator.faults.htmlLoginPage = true;
    expect(await sendBatch(engine, message)).toBe('failed');
    expect(await batch()).toMatchObject({ status: 'failed', failed: 3 });
    const ended = await currentRun();
    expect(ended.status).toBe('failed');
    expect(ended.error).toMatch(/refused the API key of connection "Emulator".*Replace the key/);
    expect(engine.queues.take(QUEUES.batches)).toEqual([]);
  });

  it('retries with back-off, posting nothing, when storage fails as it claims the batch', async () => {
    const before = imports().length;
    breakFor(engine.runs, 'updateBatch', 1);
    expect(await sendBatch(engine, message)).toBe('deferred');
    const [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect(back.message.attempt).toBe(1);
    expect(back.delayInMs).toBeGreaterThanOrEqual(500);
    expect(back.delayInMs).toBeLessThanOrEqual(1_000);
    expect(await batch()).toMatchObject({ status: 'pending', failed: 0 });
    expect(imports().length).toBe(before);
  });

  it('waits after a post whose answer was lost, and after the second looks the contacts up instead of posting a third time', async () => {
    const before = imports().length;
    emulator.faults.delayInMs = 600; // past the 300 ms timeout: the import is applied, its answer lost
    expect(await sendBatch(engine, message)).toBe('deferred');
    let [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect(back.delayInMs).toBe(5_000);
    expect(await batch()).toMatchObject({ uncertainPosts: 1, status: 'sending' });
    expect(await sendBatch(engine, back.message)).toBe('deferred');
    [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect((await batch()).uncertainPosts).toBe(FAILURE_LIMITS.uncertainPosts);
    emulator.faults = {};
    await importsApplied();
    expect(await sendBatch(engine, back.message)).toBe('completed');
    expect(imports().length - before).toBe(2);
    expect(await batch()).toMatchObject({ status: 'completed', upserted: 3, failed: 0, unknown: 0 });
  });

  it('counts the contacts of lost posts as unknown, never failed, when their look-ups fail too', async () => {
    await setBatch({ status: 'sending', uncertainPosts: FAILURE_LIMITS.uncertainPosts });
    emulator.faults.delayInMs = 600; // every look-up times out
    const last = { ...message, attempt: FAILURE_LIMITS.postAttempts - 1 };
    expect(await sendBatch(engine, last)).toBe('failed');
    expect(await batch()).toMatchObject({ status: 'failed', unknown: 3, failed: 0 });
    expect(engine.telemetry.lines.some((l) => l.includes('ExportFailedContacts'))).toBe(false);
  });

  it('sends nothing when the run ends between its first look and the post: the contacts are not sent', async () => {
    const before = imports().length;
    const getRun = engine.runs.getRun.bind(engine.runs);
    let looks = 0;
    engine.runs.getRun = async (exportId, runId) => {
      if (++looks === 2) await setRun({ status: 'cancelled' });
      return getRun(exportId, runId);
    };
    expect(await sendBatch(engine, message)).toBe('cancelled');
    expect(await batch()).toMatchObject({ status: 'cancelled', notSent: 3, failed: 0 });
    expect(imports().length).toBe(before);
  });

  it('leaves a batch another delivery is posting, and looks again once its claim would have run out', async () => {
    await setBatch({ status: 'sending', claimId: 'other', claimedUntil: Date.now() + 60_000 });
    expect(await sendBatch(engine, message)).toBe('deferred');
    const [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect(back.delayInMs).toBeGreaterThan(59_000);
    expect(back.message.claimId).toBeUndefined();
    expect((await batch()).claimId).toBe('other');
  });

  it('records an import accepted while storage failed from the next delivery, never posting it again', async () => {
    const before = imports().length;
    breakFor(engine.runs, 'updateBatch', 1, { after: 1 }); // the claim works; recording the import does not
    expect(await sendBatch(engine, message)).toBe('deferred');
    const [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect(back.message.acceptedImportId).toEqual(expect.any(String));
    expect(await sendBatch(engine, back.message)).toBe('submitted');
    expect(await batch()).toMatchObject({ status: 'submitted', importId: back.message.acceptedImportId });
    expect(engine.queues.take(QUEUES.importCheck)).toHaveLength(1);
    expect(imports().length - before).toBe(1);
  });

  it('drops the contacts the importer refuses, records them as rejected and sends the rest', async () => {
    emulator.faults.rejectInValidation = (email) => email === 'b@example.com';
    await sendAndTakeCheck();
    expect(await batch()).toMatchObject({ status: 'submitted', rejected: 1 });
    expect((await engine.runFiles.readBatch(run.runId, 1))!.map((c) => c.email)).toEqual([
      'a@example.com',
      'c@example.com',
    ]);
    expect(engine.runFiles.rejected.get(run.runId)).toEqual([
      expect.objectContaining({ email: 'b@example.com', file: 'ActiveCampaign' }),
    ]);
  });

  it('cancels the run of a deleted export, and fails the run of an export whose connection is gone', async () => {
    engine.connections.records.clear();
    expect(await sendBatch(engine, message)).toBe('failed');
    expect(await currentRun()).toMatchObject({ status: 'failed', error: expect.stringMatching(/no longer exists/) });
  });
});

describe('the import check carries out the failure rule', () => {
  it('counts an import that arrived whole from what was posted, and reads the payload only when contacts failed', async () => {
    const contacts = [...CONTACTS, { email: 'gone@example.com', unsubscribe: [{ listid: '1' }] }];
    await engine.runFiles.writeBatch(run.runId, 1, contacts);
    await setBatch({ contacts: 4, unsubscribes: 1 });
    const read = engine.runFiles.readBatch.bind(engine.runFiles);
    let reads = 0;
    engine.runFiles.readBatch = (runId, b) => (reads++, read(runId, b));
    let check = await sendAndTakeCheck();
    await importsApplied();
    expect(await checkImport(engine, check)).toBe('completed');
    expect(await batch()).toMatchObject({ status: 'completed', upserted: 3, unsubscribed: 1, failed: 0 });
    expect(reads).toBe(1); // the post's, not the check's

    await setBatch({ status: 'pending', upserted: 0, unsubscribed: 0, importId: undefined });
    emulator.faults.failInProcessing = (email) => email === 'b@example.com';
    check = await sendAndTakeCheck();
    await importsApplied();
    expect(await checkImport(engine, check)).toBe('completed');
    expect(await batch()).toMatchObject({ status: 'completed', upserted: 2, unsubscribed: 1, failed: 1 });
    expect(reads).toBe(3);
  });

  it('completes a batch whose import was sent again after ActiveCampaign reported it failed', async () => {
    emulator.faults.importOutcome = { status: 'failed', count: 1 };
    let check = await sendAndTakeCheck();
    await importsApplied();
    expect(await checkImport(engine, check)).toBe('resubmitted');
    const [again] = engine.queues.take<BatchMessage>(QUEUES.batches);
    check = await sendAndTakeCheck(again.message);
    await importsApplied();
    expect(await checkImport(engine, check)).toBe('completed');
    expect(await batch()).toMatchObject({ status: 'completed', upserted: 3, failed: 0, resubmits: 1 });
  });

  it('sends a failed import again, and after the resubmissions allowed fails the batch', async () => {
    emulator.faults.importOutcome = { status: 'failed', count: 99 };
    for (let resubmits = 0; resubmits < FAILURE_LIMITS.resubmits; resubmits++) {
      const check = await sendAndTakeCheck();
      await importsApplied();
      expect(await checkImport(engine, check)).toBe('resubmitted');
      expect(await batch()).toMatchObject({ status: 'pending', resubmits: resubmits + 1, importId: undefined });
      engine.queues.take(QUEUES.batches);
    }
    const check = await sendAndTakeCheck();
    await importsApplied();
    expect(await checkImport(engine, check)).toBe('failed');
    expect(await batch()).toMatchObject({ status: 'failed', failed: 3 });
  });

  it('looks the contacts up (never posts again) when the checks were throttled for longer than allowed', async () => {
    const before = imports().length;
    const check = await sendAndTakeCheck();
    emulator.faults.throttleUntil = Date.now() + 60_000;
    const since = Date.now() - FAILURE_LIMITS.maxThrottledForInMs - 1;
    expect(await checkImport(engine, { ...check, throttles: 40, throttledSince: since })).toBe('verifying');
    expect(await batch()).toMatchObject({ status: 'pending', uncertainPosts: FAILURE_LIMITS.uncertainPosts });
    const [verify] = engine.queues.take<BatchMessage>(QUEUES.batches);
    emulator.faults = {};
    await importsApplied();
    expect(await sendBatch(engine, verify.message)).toBe('completed');
    expect(await batch()).toMatchObject({ status: 'completed', upserted: 3 });
    expect(imports().length - before).toBe(1);
  });

  it('retries a check that fails for the app’s own reasons, and at the limit looks the contacts up', async () => {
    const check = await sendAndTakeCheck();
    const activeCampaign = engine.activeCampaign.bind(engine);
    engine.activeCampaign = () => Promise.reject(new Error('The secret store is unavailable'));
    expect(await checkImport(engine, check)).toBe('pending');
    const [again] = engine.queues.take<ImportCheckMessage>(QUEUES.importCheck);
    expect(again.message.attempt).toBe(1);
    expect(await checkImport(engine, { ...check, attempt: FAILURE_LIMITS.checkAttempts - 1 })).toBe('verifying');
    engine.activeCampaign = activeCampaign;
    expect(engine.queues.take(QUEUES.batches)).toHaveLength(1);
  });

  it("counts an ended run's accepted import as unknown when the key is refused while checking it", async () => {
    const check = await sendAndTakeCheck();
    await setRun({ status: 'cancelled', finishedAt: new Date().toISOString() });
    emulator.faults.htmlLoginPage = true;
    expect(await checkImport(engine, check)).toBe('failed');
    expect(await batch()).toMatchObject({ status: 'failed', unknown: 3, failed: 0 });
  });
});

describe('the batches of one message, and their imports, are sent and checked together', () => {
  /** Batches 2 and 3 beside batch 1, of other people, in a plan of four (the run does not end). */
  beforeEach(async () => {
    await setRun({ plan: { ...run.plan!, batches: 4, messages: 1 } });
    for (const b of [2, 3]) {
      await engine.runs.createBatch(pendingBatch(run.runId, b, CONTACTS.length));
      await engine.runFiles.writeBatch(
        run.runId,
        b,
        CONTACTS.map((c) => ({ ...c, email: `${b}.${c.email}` })),
      );
    }
  });
  const group: () => BatchMessage = () => ({ ...message, batches: [1, 2, 3] });
  const checkedBatches = (m: ImportCheckMessage) => splitImportCheck(m).map((c) => c.batch);

  it('sends the imports of a batch message to the checker in one message, which reads their run once', async () => {
    const getRun = engine.runs.getRun.bind(engine.runs);
    let runReads = 0;
    engine.runs.getRun = (exportId, runId) => (runReads++, getRun(exportId, runId));
    expect(await sendBatches(engine, group())).toEqual(['submitted', 'submitted', 'submitted']);
    // Once for the message, and once by each batch just before it posts.
    expect(runReads).toBe(1 + 3);
    const checks = engine.queues.take<ImportCheckMessage>(QUEUES.importCheck);
    expect(checks).toHaveLength(1);
    const [{ message: check, delayInMs }] = checks;
    expect(delayInMs).toBe(engine.config.importPollIntervalInMs);
    expect(checkedBatches(check).sort()).toEqual([1, 2, 3]);
    for (const c of splitImportCheck(check))
      expect(c.importId).toBe((await engine.runs.getBatch(run.runId, c.batch))!.importId);
    await importsApplied();
    runReads = 0;
    expect(await checkImports(engine, check)).toEqual(['completed', 'completed', 'completed']);
    expect(runReads).toBe(1);
    for (const b of [1, 2, 3])
      expect(await engine.runs.getBatch(run.runId, b)).toMatchObject({ status: 'completed', upserted: 3 });
  });

  it('still sends the checks of the batches that were sent when another one of the message fails', async () => {
    // Storage fails as the second batch is read: the message fails (and comes back), the others were sent.
    breakFor(engine.runs, 'getBatch', 1, { after: 1 });
    await expect(sendBatches(engine, group())).rejects.toThrow(/Storage is unavailable/);
    const [check] = engine.queues.take<ImportCheckMessage>(QUEUES.importCheck);
    expect(checkedBatches(check.message).sort()).toEqual([1, 3]);
    // The message comes back: only batch 2 is posted, and checked.
    const before = imports().length;
    expect(await sendBatches(engine, group())).toEqual(['skipped', 'submitted', 'skipped']);
    expect(imports().length - before).toBe(1);
    const checks = engine.queues.take<ImportCheckMessage>(QUEUES.importCheck).map((m) => checkedBatches(m.message));
    // Batches 1 and 3 were submitted already: the redelivery makes sure they are checked, with batch 2.
    expect(checks.map((c) => c.sort())).toEqual([[1, 2, 3]]);
  });

  it('looks again at the imports still running with one message', async () => {
    // An account whose imports take a minute: the first look finds all three running.
    const slow = await startActiveCampaignEmulator({
      requestsPerSecond: 0,
      bulkImportsPerMinute: 0,
      importPhaseInMs: 20_000,
    });
    try {
      const slowEngine = memoryEngine(slow, { ACTIVECAMPAIGN_TIMEOUT_SECONDS: '0.3' });
      slowEngine.runs = engine.runs;
      slowEngine.runFiles = engine.runFiles;
      slowEngine.exports = engine.exports;
      slowEngine.connections.records.set('c1', { ...engine.connections.records.get('c1')!, hostname: slow.hostname });
      expect(await sendBatches(slowEngine, group())).toEqual(['submitted', 'submitted', 'submitted']);
      const [check] = slowEngine.queues.take<ImportCheckMessage>(QUEUES.importCheck);
      expect(await checkImports(slowEngine, check.message)).toEqual(['pending', 'pending', 'pending']);
      const again = slowEngine.queues.take<ImportCheckMessage>(QUEUES.importCheck);
      expect(again).toHaveLength(1);
      expect(again[0].message.polls).toBe(1);
      expect(checkedBatches(again[0].message).sort()).toEqual([1, 2, 3]);
    } finally {
      await slow.close();
    }
  });
});

describe('the poison handler and the watcher carry out the rule', () => {
  it('brings a poisoned batch back later each time, then records it as failed; an accepted one is checked, never failed', async () => {
    await handlePoisoned(engine, QUEUES.batches, message);
    let [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect(back).toMatchObject({ delayInMs: 24_000, message: { poisoned: 1 } });
    await handlePoisoned(engine, QUEUES.batches, { ...message, poisoned: FAILURE_LIMITS.poisonReturns });
    expect(await batch()).toMatchObject({ status: 'failed', failed: 3 });

    await engine.runs.createBatch(batchState({ batch: 2, status: 'submitted', importId: 'i2' }));
    await handlePoisoned(engine, QUEUES.importCheck, { ...message, batch: 2, importId: 'i2', poisoned: 1 });
    [back] = engine.queues.take<ImportCheckMessage>(QUEUES.importCheck);
    expect(back).toMatchObject({ delayInMs: 48_000, message: { batch: 2, importId: 'i2', poisoned: 2 } });
    expect((await engine.runs.getBatch(run.runId, 2))!.status).toBe('submitted');
    // Its checks keep failing: the contacts are looked up, never posted again.
    await handlePoisoned(engine, QUEUES.importCheck, {
      ...message,
      batch: 2,
      importId: 'i2',
      poisoned: FAILURE_LIMITS.poisonReturns,
    });
    expect(await engine.runs.getBatch(run.runId, 2)).toMatchObject({
      status: 'pending',
      uncertainPosts: FAILURE_LIMITS.uncertainPosts,
      failed: 0,
    });
    expect(engine.queues.take<BatchMessage>(QUEUES.batches).map((m) => m.message.batch)).toEqual([2]);
  });

  it('re-arms a poisoned watcher as a new chain that supersedes the old one', async () => {
    await handlePoisoned(engine, QUEUES.watch, { exportId: 'e1', runId: run.runId, watchId: 'w0' });
    const [watch] = engine.queues.take<WatchMessage>(QUEUES.watch);
    const { watchId } = await currentRun();
    expect(watchId).not.toBe('w0');
    expect(watch.message.watchId).toBe(watchId);
    // The old chain's message does nothing.
    await watchRun(engine, { exportId: 'e1', runId: run.runId, watchId: 'w0' });
    expect(engine.queues.take(QUEUES.watch)).toEqual([]);
  });

  it('brings forward, as the run ends, the check of a snapshot that landed while it ran', async () => {
    // A blob landed during the run: its check found the run active and looks again in 30 s.
    engine.snapshotChecks.records.set('e1', { exportId: 'e1', checkId: 'in-30-s', dueAt: Date.now() + 30_000 });
    await setBatch({ status: 'completed', upserted: 3 });
    await watchRun(engine, { exportId: 'e1', runId: run.runId, watchId: 'w0' });
    expect((await currentRun()).status).toBe('completed');
    const [check] = engine.queues.take<SnapshotCheckMessage>(SEGMENT_QUEUES.checks);
    expect(check).toMatchObject({ delayInMs: CHECK_DELAY_IN_MS, message: { exportId: 'e1' } });
    expect(check.message.checkId).not.toBe('in-30-s');
    // No check waiting: a run's end schedules none.
    await setRun({ status: 'sending', finishedAt: undefined });
    await watchRun(engine, { exportId: 'e1', runId: run.runId, watchId: 'w0' });
    expect(engine.queues.take(SEGMENT_QUEUES.checks)).toEqual([]);
  });

  it('sends the messages of open batches again when no batch reached its outcome for too long', async () => {
    await engine.runs.createBatch(batchState({ batch: 2, status: 'submitted', importId: 'i2' }));
    const stalledSince = new Date(Date.now() - FAILURE_LIMITS.batchesStalledInMs - 1_000).toISOString();
    await setRun({ batchProgressAt: stalledSince, plan: { ...run.plan!, batches: 2 } });
    await watchRun(engine, { exportId: 'e1', runId: run.runId, watchId: 'w0' });
    expect(engine.queues.take<BatchMessage>(QUEUES.batches).map((m) => m.message.batch)).toEqual([1]);
    expect(engine.queues.take<ImportCheckMessage>(QUEUES.importCheck).map((m) => m.message.importId)).toEqual(['i2']);
    expect(engine.queues.take(QUEUES.watch)).toHaveLength(1);
  });
});

describe('the send worker in update-only mode', () => {
  const people = Array.from({ length: 25 }, (_, i) => `p${String(i).padStart(2, '0')}@example.com`);
  const lookups = () => emulator.requests.filter((r) => r.method === 'GET' && r.path === '/api/3/contacts');

  beforeEach(async () => {
    engine.exports.records.set('e1', { ...engine.exports.records.get('e1')!, mode: 'updateOnly' });
    // Every third person is already in ActiveCampaign (created there by other means).
    for (const [i, email] of people.entries())
      if (i % 3 === 0 && !emulator.contacts.has(email)) emulator.addContact(email, { firstName: 'Old' });
    const contacts = people.map((email) => ({ email, first_name: 'New', subscribe: [{ listid: '1' }] }));
    await engine.runs.updateBatch(run.runId, 1, (s) => ({ ...s, contacts: contacts.length }));
    await engine.runFiles.writeBatch(run.runId, 1, contacts);
  });

  it('looks every contact up, resumes where a failed delivery stopped, and posts only those ActiveCampaign has', async () => {
    const before = { lookups: lookups().length, imports: imports().length, contacts: emulator.contacts.size };
    // Storage fails as the second ten look-ups are recorded: the first ten stay done.
    breakFor(engine.runFiles, 'addNotInActiveCampaign', 1, { after: 1 });
    expect(await sendBatch(engine, message)).toBe('deferred');
    expect(await batch()).toMatchObject({ status: 'sending', lookedUp: 10 });
    expect(imports().length).toBe(before.imports);
    const [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    const check = await sendAndTakeCheck(back.message);
    // 10, then 10 again (not recorded) and the last 15: never the first ten twice.
    expect(lookups().length - before.lookups).toBe(10 + 10 + 15);
    expect(imports().length - before.imports).toBe(1);
    const existing = people.filter((_, i) => i % 3 === 0);
    expect((await engine.runFiles.readBatch(run.runId, 1))!.map((c) => c.email)).toEqual(existing);
    expect(await batch()).toMatchObject({ lookedUp: 25, notInActiveCampaign: 25 - existing.length });
    expect((await engine.runFiles.readNotInActiveCampaign(run.runId, 1)).sort()).toEqual(
      people.filter((_, i) => i % 3 !== 0),
    );
    await importsApplied();
    expect(await checkImport(engine, check)).toBe('completed');
    expect(await batch()).toMatchObject({ status: 'completed', upserted: existing.length, failed: 0 });
    // Nobody was created; those who exist were updated and put on the list.
    expect(emulator.contacts.size).toBe(before.contacts);
    for (const email of existing)
      expect(emulator.contacts.get(email)).toMatchObject({ firstName: 'New', lists: { '1': 1 } });
  });

  it('completes a batch whose contacts ActiveCampaign has none of without posting', async () => {
    for (const email of people) emulator.contacts.delete(email);
    const before = imports().length;
    expect(await sendBatch(engine, message)).toBe('completed');
    expect(imports().length).toBe(before);
    expect(await batch()).toMatchObject({ status: 'completed', upserted: 0, notInActiveCampaign: 25, failed: 0 });
  });
});

describe('the send worker removes the export tags of leavers (removeTagsWhenLeaving)', () => {
  const leavers = Array.from({ length: 15 }, (_, i) => `left${String(i).padStart(2, '0')}@example.com`);
  const tagsOf = (email: string) => emulator.contacts.get(email)?.tags;

  beforeEach(async () => {
    engine.exports.records.set('e1', {
      ...engine.exports.records.get('e1')!,
      tags: ['segment: members'],
      removeTagsWhenLeaving: true,
    });
    for (const email of leavers) {
      emulator.contacts.delete(email);
      // The account's tag has another case: ActiveCampaign matches names whatever the case.
      emulator.tagNamed('Segment: Members');
      emulator.addContact(email, { tags: ['Segment: Members', 'Customer'] });
    }
    await engine.runs.updateBatch(run.runId, 1, (s) => ({ ...s, contacts: 0, untags: leavers.length }));
    await engine.runFiles.writeBatch(run.runId, 1, []);
    await engine.runFiles.writeUntags(run.runId, 1, leavers);
  });

  it('removes only the export tags, resumes where a failed delivery stopped, and imports nothing', async () => {
    const before = imports().length;
    // Storage fails as the second chunk's progress is written: the first ten are done.
    breakFor(engine.runs, 'updateBatch', 1, { after: 3 });
    expect(await sendBatch(engine, message)).toBe('deferred');
    expect(await batch()).toMatchObject({ untagsDone: 10, untagged: 10, postingAt: undefined });
    const [back] = engine.queues.take<BatchMessage>(QUEUES.batches);
    expect(await sendBatch(engine, back.message)).toBe('completed');
    expect(imports().length).toBe(before);
    expect(await batch()).toMatchObject({ status: 'completed', untagsDone: 15, untagged: 15, untagFailed: 0 });
    for (const email of leavers) expect(tagsOf(email)).toEqual(['Customer']);
  });

  it('removes nothing once the run was cancelled: its leavers count as keeping their tags', async () => {
    await setRun({ status: 'cancelled' });
    expect(await sendBatch(engine, message)).toBe('cancelled');
    for (const email of leavers) expect(tagsOf(email)).toEqual(['Segment: Members', 'Customer']);
    const ended = await batch();
    expect(ended.status).toBe('cancelled');
    await setRun({ status: 'sending' });
    await watchRun(engine, { exportId: 'e1', runId: run.runId, watchId: 'w0' });
    expect((await currentRun()).error).toContain("15 contact(s) who left the segment kept the export's tags");
  });
});
