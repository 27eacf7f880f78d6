import { join } from 'node:path';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport } from '../../shared/exports/exportService.js';
import { TERMINAL_STATUSES, type Export, type Run } from '../../shared/model.js';
import { planRun } from '../../shared/runs/planRun.js';
import { collect, endRun, startRun } from '../../shared/runs/runLifecycle.js';
import { refreshExports } from '../../shared/runs/scheduledRefresh.js';
import { handlePoisoned } from '../../shared/runs/poisonedMessages.js';
import { poisonQueue, QUEUES, type BatchMessage } from '../../shared/runs/runQueues.js';
import { encodeMessage } from '../../shared/store/storageQueues.js';
import { sendBatch } from '../../shared/runs/sendBatch.js';
import { azuriteConnectionString } from '../../shared/store/storageClients.js';
import {
  adminCaller,
  connectToEmulator,
  ROOT,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';
import { TcpProxy } from '../support/tcpProxy.js';

const emails = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);
const addsUp = (run: Run) =>
  expect(run.counts.read).toBe(
    run.counts.rejected + run.counts.duplicate + run.counts.unchanged + run.counts.upserted + run.counts.failed,
  );

/** Imports the emulator accepted for each batch, keyed by the batch's first email. */
function importsPerBatch(h: Harness, since: number): number[] {
  const perBatch = new Map<string, number>();
  for (const r of h.emulator.requests.slice(since)) {
    if (r.kind !== 'bulkImport' || r.status !== 200) continue;
    const first = (r.requestBody as { contacts: { email: string }[] }).contacts[0].email;
    perBatch.set(first, (perBatch.get(first) ?? 0) + 1);
  }
  return [...perBatch.values()];
}

describe('the run engine under faults', () => {
  let h: Harness;
  let connectionId: string;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness({ requestsPerSecond: 100, bulkImportsPerMinute: 6_000, recordBodies: true });
    connectionId = await connectToEmulator(h);
  });
  afterAll(() => h?.stop());

  /** On demand only: the scheduled refresh that a test calls must not start runs of other tests' exports. */
  async function newExport(count: number, prefix = `x${++n}`): Promise<Export> {
    await uploadText(h.blobs, 'resilience', `${prefix}.csv`, ['email', ...emails(prefix, count)].join('\n'));
    return createExport(h.svc, adminCaller, {
      displayName: prefix,
      connectionId,
      listId: 1,
      schedule: 'manual',
      source: { container: 'resilience', path: `${prefix}.csv` },
      mapping: { email: 'email' },
    });
  }

  /** Ends a run driven by hand and clears the queues, so that no later test's worker picks its messages up. */
  async function leaveNoWork(exp: Export, runId: string): Promise<void> {
    await endRun(h.svc, exp.id, runId, 'cancelled', 'The test is over');
    const queues = QueueServiceClient.fromConnectionString(h.azurite.connectionString);
    for (const q of Object.values(QUEUES)) await queues.getQueueClient(q).clearMessages();
  }

  const waitForEnd = (exp: Export, runId: string, timeoutInMs = 120_000) =>
    waitFor(
      `run ${runId}`,
      async () => {
        const r = await h.svc.runs.getRun(exp.id, runId);
        return r && TERMINAL_STATUSES.has(r.status) ? r : undefined;
      },
      timeoutInMs,
      200,
    );

  it('sends a batch once when two deliveries of its message arrive at the same time', async () => {
    const exp = await newExport(700, 'twice');
    const run = await startRun(h.svc, exp, { trigger: 'manual' });
    // Planned in this process, with no runner: the batch messages stay on the queue.
    await planRun(h.svc, { exportId: exp.id, runId: run.runId });
    const before = h.emulator.requests.length;
    const deliver = (batch: number, claimId?: string) =>
      sendBatch(h.svc, { exportId: exp.id, runId: run.runId, batch, claimId });
    const outcomes = await Promise.all([1, 2, 3].flatMap((batch) => [deliver(batch), deliver(batch)]));
    // Of two deliveries at once, at most one posts; the other leaves the batch to it.
    expect(outcomes.filter((o) => o === 'submitted').length, outcomes.join(', ')).toBeLessThanOrEqual(3);
    // A delivery that could not keep to its budget slot (a busy machine) put its message back, with
    // the claim it holds on the batch: delivered again, as the queue would, until every batch was posted.
    for (let round = 0; round < 10; round++) {
      const waiting = (await collect(h.svc.runs.listBatches(run.runId))).filter(
        (b) => b.status !== 'submitted' && b.status !== 'completed',
      );
      if (waiting.length === 0) break;
      // The queue gives a message put back no sooner than the delay it asked for (a second at least): delivering it
      // again at once, round after round, only piled reservations on the budget on a busy machine.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await Promise.all(waiting.map((b) => deliver(b.batch, b.claimId)));
    }
    expect(
      (await collect(h.svc.runs.listBatches(run.runId)))
        .map((b) => b.status)
        .filter((s) => s === 'submitted' || s === 'completed'),
    ).toHaveLength(3);
    expect(importsPerBatch(h, before)).toEqual([1, 1, 1]);
  });

  it('finishes a run whose worker process was killed as it turned sending and again in the middle of sending', async () => {
    const env = {
      ...h.env,
      LOCAL_RUNNER_MESSAGE_LEASE_SECONDS: '3',
      ACTIVECAMPAIGN_TIMEOUT_SECONDS: '3',
      ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '8',
    };
    const exp = await newExport(6_000, 'crash');
    const before = h.emulator.requests.length;
    let worker: RunnerProcess = await startRunnerProcess(env, ['--triggers', 'queue']);
    try {
      const run = await startRun(h.svc, exp, { trigger: 'manual' });
      await waitFor(
        'sending',
        async () => ((await h.svc.runs.getRun(exp.id, run.runId))?.status === 'sending' ? true : undefined),
        60_000,
        10,
      );
      await worker.kill();
      worker = await startRunnerProcess(env, ['--triggers', 'queue']);
      await waitFor(
        'some imports',
        async () => (importsPerBatch(h, before).length >= 8 ? true : undefined),
        60_000,
        20,
      );
      await worker.kill();
      worker = await startRunnerProcess(env, ['--triggers', 'queue']);
      const done = await waitForEnd(exp, run.runId, 180_000);
      expect(done.status).toBe('completed');
      expect(done.counts).toMatchObject({ read: 6_000, upserted: 6_000, failed: 0 });
      addsUp(done);
      const members = new Set(h.emulator.listMembers(1));
      expect(emails('crash', 6_000).filter((e) => !members.has(e))).toEqual([]);
    } finally {
      await worker.stop();
    }
  }, 240_000);

  it('costs time, not the run, when Table storage is down for a while: nothing is failed for it and no message is lost', async () => {
    const proxy = await TcpProxy.start(h.azurite.ports.table);
    const storage = azuriteConnectionString('127.0.0.1', { ...h.azurite.ports, table: proxy.port });
    const worker = await startRunnerProcess(
      { ...h.env, AzureWebJobsStorage: storage, ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '20' },
      ['--triggers', 'queue', '--host-json', join(ROOT, 'test/fixtures/host-fast-poison.json')],
    );
    try {
      const exp = await newExport(5_000, 'outage');
      const before = h.emulator.requests.length;
      const run = await startRun(h.svc, exp, { trigger: 'manual' });
      await waitFor(
        'some imports',
        async () => (importsPerBatch(h, before).length >= 3 ? true : undefined),
        60_000,
        20,
      );
      proxy.down();
      await new Promise((r) => setTimeout(r, 12_000));
      proxy.up();
      const done = await waitForEnd(exp, run.runId, 180_000);
      expect(done.status).toBe('completed');
      expect(done.counts).toMatchObject({ read: 5_000, upserted: 5_000, failed: 0 });
      expect(Math.max(...importsPerBatch(h, before))).toBe(1);
      const queues = QueueServiceClient.fromConnectionString(h.azurite.connectionString);
      for (const q of Object.values(QUEUES))
        expect(await queues.getQueueClient(`${poisonQueue(q)}-poison`).exists()).toBe(false);
    } finally {
      await worker.stop();
      await proxy.close();
    }
  }, 240_000);

  it('handles what lands in every poison queue: malformed messages are reported once and dropped, real work comes back', async () => {
    const queues = QueueServiceClient.fromConnectionString(h.azurite.connectionString);
    for (const q of Object.values(QUEUES)) {
      const poison = queues.getQueueClient(poisonQueue(q));
      await poison.createIfNotExists();
      await poison.sendMessage(encodeMessage({ nonsense: true }));
      await poison.sendMessage(encodeMessage('a string'));
      await poison.sendMessage(Buffer.from('not json {').toString('base64'));
    }
    // A real run whose batch messages landed on the batches' poison queue (planned here, before any worker runs).
    const exp = await newExport(300, 'poisoned');
    const run = await startRun(h.svc, exp, { trigger: 'manual' });
    await planRun(h.svc, { exportId: exp.id, runId: run.runId });
    const batchQueue = queues.getQueueClient(QUEUES.batches);
    const planned = (await batchQueue.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems;
    expect(planned).toHaveLength(2);
    for (const m of planned) {
      await queues.getQueueClient(poisonQueue(QUEUES.batches)).sendMessage(m.messageText);
      await batchQueue.deleteMessage(m.messageId, m.popReceipt);
    }
    const worker = await startRunnerProcess({ ...h.env }, [
      '--triggers',
      'queue',
      '--host-json',
      join(ROOT, 'test/fixtures/host-fast-poison.json'),
    ]);
    try {
      const done = await waitForEnd(exp, run.runId, 120_000);
      expect(done.status).toBe('completed');
      expect(done.counts.upserted).toBe(300);
      await waitFor(
        'the poison queues to drain',
        async () => {
          for (const q of Object.values(QUEUES))
            if (((await queues.getQueueClient(poisonQueue(q)).getProperties()).approximateMessagesCount ?? 0) > 0)
              return undefined;
          return true;
        },
        30_000,
      );
      for (const q of Object.values(QUEUES))
        expect(await queues.getQueueClient(`${poisonQueue(q)}-poison`).exists()).toBe(false);
      const events = worker
        .output()
        .split('\n')
        .filter((l) => l.includes('"event":"ExportPoisonMessage"'));
      // Twelve malformed messages (three a queue) and the two real ones, each reported once.
      expect(events.filter((l) => l.includes('"parsed":false'))).toHaveLength(12);
      expect(events.filter((l) => l.includes(run.runId))).toHaveLength(2);
    } finally {
      await worker.stop();
    }
  }, 180_000);

  it('leaves one message, carrying the import, when storage fails just after ActiveCampaign accepted a post: the import is recorded, never posted again', async () => {
    const exp = await newExport(300, 'unrecorded');
    const run = await startRun(h.svc, exp, { trigger: 'manual' });
    await planRun(h.svc, { exportId: exp.id, runId: run.runId });
    const runs = Object.create(h.svc.runs) as typeof h.svc.runs;
    runs.updateBatch = (runId, batch, change, known) =>
      h.svc.runs.updateBatch(
        runId,
        batch,
        (s) => {
          const next = change(s);
          if (next?.status === 'submitted')
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:10002'), { code: 'ECONNREFUSED' });
          return next;
        },
        known,
      );
    const queues = Object.create(h.svc.queues) as typeof h.svc.queues;
    const enqueued: BatchMessage[] = [];
    queues.batches = async (m) => void enqueued.push(m);
    const imports = () => h.emulator.requests.filter((r) => r.kind === 'bulkImport' && r.status === 200).length;
    const before = imports();

    expect(await sendBatch({ ...h.svc, runs, queues }, { exportId: exp.id, runId: run.runId, batch: 1 })).toBe(
      'deferred',
    );
    expect(imports()).toBe(before + 1);
    expect(enqueued).toHaveLength(1);
    expect(enqueued[0].acceptedImportId).toEqual(expect.any(String));

    // Storage is back: the one message records the import.
    expect(await sendBatch(h.svc, enqueued[0])).toBe('submitted');
    expect(await h.svc.runs.getBatch(run.runId, 1)).toMatchObject({
      status: 'submitted',
      importId: enqueued[0].acceptedImportId,
    });
    expect(imports()).toBe(before + 1);
    await leaveNoWork(exp, run.runId);
  });

  it('brings a poisoned batch message back with the import its post started, which is recorded, not posted again', async () => {
    // Table storage failed just after ActiveCampaign accepted a post: the worker put the import on
    // the message, whose deliveries then failed until it landed on the poison queue.
    const exp = await newExport(300, 'accepted');
    const run = await startRun(h.svc, exp, { trigger: 'manual' });
    await planRun(h.svc, { exportId: exp.id, runId: run.runId });
    await h.svc.runs.updateBatch(run.runId, 1, (s) => ({
      ...s,
      status: 'sending',
      claimId: 'claim-1',
      claimedUntil: Date.now() + 60_000,
      postingAt: Date.now(),
    }));
    const queues = Object.create(h.svc.queues) as typeof h.svc.queues;
    const broughtBack: BatchMessage[] = [];
    queues.batches = async (m) => void broughtBack.push(m);
    const message = {
      exportId: exp.id,
      runId: run.runId,
      batch: 1,
      claimId: 'claim-1',
      acceptedImportId: 'import-1',
      attempt: 2,
    };

    await handlePoisoned({ ...h.svc, queues }, QUEUES.batches, message);
    const importsBefore = h.emulator.requests.filter((r) => r.kind === 'bulkImport').length;
    expect(await h.svc.runs.getBatch(run.runId, 1)).toMatchObject({
      status: 'submitted',
      importId: 'import-1',
      claimId: undefined,
    });
    expect(broughtBack).toEqual([]);

    expect(h.emulator.requests.filter((r) => r.kind === 'bulkImport').length).toBe(importsBefore);

    // A message that is brought back (its batch 2 is still pending) keeps its claim and import.
    await handlePoisoned({ ...h.svc, queues }, QUEUES.batches, { ...message, batch: 2 });
    expect(broughtBack).toMatchObject([{ batch: 2, claimId: 'claim-1', acceptedImportId: 'import-1', poisoned: 1 }]);
    await leaveNoWork(exp, run.runId);
  });

  it('notices a stalled run of any export (a manual one too) whose watcher was lost, and finishes it', async () => {
    await uploadText(h.blobs, 'resilience', 'stall.csv', ['email', ...emails('stall', 300)].join('\n'));
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'stall',
      connectionId,
      listId: 1,
      schedule: 'manual',
      source: { container: 'resilience', path: 'stall.csv' },
      mapping: { email: 'email' },
    });
    const run = await startRun(h.svc, exp, { trigger: 'manual' });
    await planRun(h.svc, { exportId: exp.id, runId: run.runId });
    // The watcher's message is lost (and the plan message, which would arm another, is gone too).
    const queues = QueueServiceClient.fromConnectionString(h.azurite.connectionString);
    for (const name of [QUEUES.watch, QUEUES.plan]) {
      const queue = queues.getQueueClient(name);
      await waitFor(
        `the ${name} message`,
        async () => {
          const got = (await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 }))
            .receivedMessageItems;
          for (const m of got) await queue.deleteMessage(m.messageId, m.popReceipt);
          return got.length > 0 ? true : undefined;
        },
        10_000,
        100,
      );
    }
    const worker = await startRunnerProcess({ ...h.env }, ['--triggers', 'queue']);
    try {
      await waitFor(
        'the batches',
        async () => {
          const batches = [];
          for await (const b of h.svc.runs.listBatches(run.runId)) batches.push(b);
          return batches.every((b) => b.status === 'completed') ? true : undefined;
        },
        60_000,
      );
      await new Promise((r) => setTimeout(r, 2_000));
      expect((await h.svc.runs.getRun(exp.id, run.runId))!.status).toBe('sending');
      // Ten minutes of silence later, the scheduled refresh notices it.
      await h.svc.runs.updateRun(exp.id, run.runId, (r) => ({
        ...r,
        lastProgressAt: new Date(Date.now() - 11 * 60_000).toISOString(),
      }));
      const tick = await refreshExports(h.svc);
      expect(tick.rearmed).toEqual([{ exportId: exp.id, runId: run.runId, what: 'watcher' }]);
      const done = await waitForEnd(exp, run.runId, 60_000);
      expect(done.status).toBe('completed');
      expect(done.counts.upserted).toBe(300);
    } finally {
      await worker.stop();
    }
  }, 120_000);

  it('sends a batch at most twice when ActiveCampaign answers slower than the timeout, and counts what arrived', async () => {
    const worker = await startRunnerProcess({ ...h.env, ACTIVECAMPAIGN_TIMEOUT_SECONDS: '1' }, ['--triggers', 'queue']);
    try {
      const exp = await newExport(1_000, 'slow');
      const before = h.emulator.requests.length;
      h.emulator.faults = { delayInMs: 1_500 };
      const run = await startRun(h.svc, exp, { trigger: 'manual' });
      await new Promise((r) => setTimeout(r, 7_000));
      h.emulator.faults = {};
      const done = await waitForEnd(exp, run.runId, 120_000);
      expect(done.status).toBe('completed');
      expect(done.counts).toMatchObject({ read: 1_000, upserted: 1_000, failed: 0 });
      const perBatch = importsPerBatch(h, before);
      expect(perBatch).toHaveLength(4);
      expect(Math.max(...perBatch)).toBeLessThanOrEqual(2);
    } finally {
      await worker.stop();
    }
  }, 180_000);
});
