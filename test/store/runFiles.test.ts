import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient, newPipeline, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { newRunId } from '../../shared/runs/runModel.js';
import { containerProblem } from '../../shared/segments/sourcePolicy.js';
import { RunFiles, runFileNames, workContainerName } from '../../shared/store/runFiles.js';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../../shared/store/storageClients.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Where a run's files are kept (Azurite): what it only needs while it sends in a container of its own, deleted
 * whole when it ends; work files written before, under runs/<runId>/, still read and deleted.
 */
describe('the work files of a run', () => {
  let h: Harness;
  let files: RunFiles;
  const contacts = [{ email: 'a@example.com' }];
  const names = async (container: ContainerClient, prefix = '') => {
    const out: string[] = [];
    if (!(await container.exists())) return out;
    for await (const b of container.listBlobsFlat({ prefix })) out.push(b.name);
    return out;
  };
  const work = (runId: string) => files.blobs.getContainerClient(workContainerName(runId));
  /** The same files through a client that notes the URL of each DELETE it sends. */
  const counting = (deletes: string[]) => {
    const pipeline = newPipeline(new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
    pipeline.factories.unshift({
      create: (next) => ({
        sendRequest: (request) => {
          if (request.method === 'DELETE') deletes.push(request.url);
          return next.sendRequest(request);
        },
      }),
    });
    return new RunFiles(new BlobServiceClient(files.blobs.url, pipeline));
  };

  beforeAll(async () => {
    h = await startHarness();
    files = h.svc.runFiles;
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('keeps them in a container of the run, deleted with one request when the run ends', async () => {
    const runId = newRunId();
    for (const batch of [1, 2, 3]) await files.writeBatch(runId, batch, contacts);
    await files.writeReturners(runId, 2, [{ email: 'a@example.com', unsubscribedAt: 1 }]);
    await files.addFailedEmails(runId, 2, ['a@example.com']);
    expect(await names(work(runId))).toEqual([
      'batches/0000001.json',
      'batches/0000002.json',
      'batches/0000003.json',
      'returners/0000002.json',
    ]);
    expect(await files.readBatch(runId, 2)).toEqual(contacts);
    expect(await files.readUntags(runId, 2)).toEqual([]);

    const deletes: string[] = [];
    await counting(deletes).deleteWorkFiles(runId);
    expect(await work(runId).exists()).toBe(false);
    expect(await files.readBatch(runId, 1)).toBeUndefined();
    // The failed emails stay with the changes they belong to.
    expect(await files.readFailedEmails(runId, 2)).toEqual(['a@example.com']);
    // The container and the pending state: never one request a batch.
    expect(deletes.map((url) => new URL(url).pathname.split('/').slice(2).join('/'))).toEqual([
      workContainerName(runId),
      `export-runs/${runFileNames.pendingState(runId)}`,
    ]);
  });

  it('keeps the files of batches still being checked after a cancel, and deletes those one by one later', async () => {
    const runId = newRunId();
    for (const batch of [1, 2]) await files.writeBatch(runId, batch, contacts);
    await files.deleteWorkFiles(runId, new Set([2]));
    expect(await names(work(runId))).toEqual(['batches/0000002.json']);
    await files.deleteBatchFiles(runId, 2);
    expect(await names(work(runId))).toEqual([]);
    // Its files expire with the run, the container too.
    await files.deleteRunsStartedBefore(Date.now() + 1, 100);
    expect(await work(runId).exists()).toBe(false);
  });

  it('reads and deletes the work files of a run from before work containers where it kept them', async () => {
    const runId = newRunId();
    const container = await files.ready();
    const legacy = `${runFileNames.runPrefix(runId)}batches/0000001.json`;
    await container
      .getBlockBlobClient(legacy)
      .upload(JSON.stringify({ contacts }), JSON.stringify({ contacts }).length);
    await files.addFailedEmails(runId, 1, ['a@example.com']);
    expect(await files.readBatch(runId, 1)).toEqual(contacts);
    expect(await files.readBatch(runId, 2)).toBeUndefined();
    await files.deleteWorkFiles(runId);
    expect(await names(container, runFileNames.runPrefix(runId))).toEqual([runFileNames.failed(runId, 1)]);
  });

  it('never lets a work container be read as a segment', () => {
    expect(containerProblem(workContainerName(newRunId()))).toMatch(/belongs to the app/);
    expect(containerProblem('export-runs')).toMatch(/belongs to the app/);
    expect(containerProblem('exports-run')).toBeUndefined();
  });
});
