import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRunId, pendingBatch } from '../../shared/runs/runModel.js';
import type { RunStore } from '../../shared/store/runStore.js';
import { startHarness, type Harness } from '../support/harness.js';
import { sendingRun } from '../support/memoryPorts.js';

/**
 * Where batches are kept (Azurite): one partition each, a run's batches a range of partitions; batches written
 * before, under their run's partition, are still read, updated where they are, listed and deleted.
 */
describe('the batches of a run in the table', () => {
  let h: Harness;
  let runs: RunStore;
  beforeAll(async () => {
    h = await startHarness();
    runs = h.svc.runs;
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('keeps each batch in a partition of its own and lists only its run’s', async () => {
    const [a, b] = [newRunId(), newRunId()];
    for (const runId of [a, b]) for (const n of [1, 2, 3]) await runs.createBatch(pendingBatch(runId, n, 250));
    const keys: string[] = [];
    for await (const e of runs.batchesTable.listEntities()) keys.push(`${e.partitionKey}/${e.rowKey}`);
    expect(keys).toContain(`${a}-0000002/batch`);
    const listed = [];
    for await (const s of runs.listBatches(a)) listed.push([s.runId, s.batch]);
    expect(listed).toEqual([
      [a, 1],
      [a, 2],
      [a, 3],
    ]);
    const updated = await runs.updateBatch(a, 2, (s) => ({ ...s, status: 'completed', upserted: 250 }));
    expect(updated).toMatchObject({ runId: a, batch: 2, status: 'completed', upserted: 250 });
    expect(await runs.getBatch(a, 2)).toMatchObject({ status: 'completed', upserted: 250 });
    expect(await runs.getBatch(b, 2)).toMatchObject({ status: 'pending', upserted: 0 });
    await runs.deleteRun('store-test', a);
    for await (const s of runs.listBatches(a)) expect.fail(`batch ${s.batch} of a deleted run`);
    expect(await runs.getBatch(b, 3)).toMatchObject({ runId: b, batch: 3 });
  });

  it('reads, updates, lists and deletes batches written under their run’s partition, leaving them where they are', async () => {
    const runId = newRunId();
    await runs.createRun(sendingRun({ runId, exportId: 'store-test' }));
    // As the app wrote batches before each had its own partition.
    for (const n of [1, 2])
      await runs.batchesTable.createEntity({
        partitionKey: runId,
        rowKey: String(n).padStart(7, '0'),
        status: 'submitted',
        contacts: 250,
        unsubscribes: 0,
        resubscribes: 0,
        importId: `import-${n}`,
        attempts: 1,
      });
    expect(await runs.getBatch(runId, 1)).toMatchObject({ runId, batch: 1, status: 'submitted', importId: 'import-1' });
    await runs.updateBatch(runId, 1, (s) => ({ ...s, status: 'completed', upserted: 250 }));
    const listed = [];
    for await (const s of runs.listBatches(runId)) listed.push([s.batch, s.status, s.upserted]);
    expect(listed).toEqual([
      [1, 'completed', 250],
      [2, 'submitted', 0],
    ]);
    const keys: string[] = [];
    for await (const e of runs.batchesTable.listEntities({ queryOptions: { filter: `PartitionKey ge '${runId}'` } }))
      if (e.partitionKey?.startsWith(runId)) keys.push(`${e.partitionKey}/${e.rowKey}`);
    expect(keys).toEqual([`${runId}/0000001`, `${runId}/0000002`]);
    await runs.deleteRun('store-test', runId);
    expect(await runs.getBatch(runId, 2)).toBeUndefined();
  });
});
