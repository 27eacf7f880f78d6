import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport } from '../../shared/exports/exportService.js';
import { endRun, startRun } from '../../shared/runs/runLifecycle.js';
import type { RunStore } from '../../shared/store/runStore.js';
import { adminCaller, connectToEmulator, startHarness, uploadText, type Harness } from '../support/harness.js';

describe('ending a run (Azurite)', () => {
  let h: Harness;
  let connectionId: string;

  beforeAll(async () => {
    h = await startHarness();
    connectionId = await connectToEmulator(h);
    await uploadText(h.blobs, 'segments', 'end/seg.csv', 'email\na@example.com');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('sets finishedAt only after the posts in flight: never before a post that passed its check just before the run turned terminal, even one answered before the wait looked', async () => {
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'end',
      connectionId,
      listId: 1,
      source: { container: 'segments', path: 'end/seg.csv' },
      mapping: { email: 'email' },
    });
    const run = await startRun(h.svc, exp, { trigger: 'manual' });
    // A worker read the run as `sending` while the terminal write was under way, posted, and its
    // quick answer (a login page) cleared its posting mark before endRun listed the batches.
    let postedAt = 0;
    let whileSettling: { status?: string; finishedAt?: string } = {};
    const runs = Object.create(h.svc.runs) as RunStore;
    runs.updateRun = async (...args: Parameters<RunStore['updateRun']>) => {
      const result = await h.svc.runs.updateRun(...args);
      if (!postedAt) {
        // What a reader sees between the terminal write and the end of the wait.
        whileSettling = (await h.svc.runs.getRun(exp.id, run.runId))!;
        await new Promise((r) => setTimeout(r, 20));
        postedAt = Date.now();
      }
      return result;
    };
    const ended = await endRun({ ...h.svc, runs }, exp.id, run.runId, 'failed', 'ActiveCampaign refused the API key');
    expect(postedAt).toBeGreaterThan(0);
    expect(whileSettling.status).toBe('failed');
    expect(whileSettling.finishedAt).toBeUndefined();
    expect(ended!.status).toBe('failed');
    expect(Date.parse(ended!.finishedAt!)).toBeGreaterThanOrEqual(postedAt);
    expect((await h.svc.runs.getRun(exp.id, run.runId))!.finishedAt).toBe(ended!.finishedAt);
  });
});
