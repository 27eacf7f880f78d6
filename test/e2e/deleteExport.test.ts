import { accountedRows } from '../../shared/model.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../../shared/model.js';
import { refreshExports } from '../../shared/runs/scheduledRefresh.js';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
import {
  api,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

describe('deleting an export during a run', () => {
  let h: Harness;
  let runner: RunnerProcess;

  beforeAll(async () => {
    // A slow account (2 requests a second) so that the run is still sending when it is deleted.
    h = await startHarness({ requestsPerSecond: 2, bulkImportsPerMinute: 100 });
    // Runs start when asked: blob events (on by default in npm start) would start runs of exports set to refresh.
    runner = await startRunnerProcess(h.env, ['--triggers', 'http,timer,queue']);
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  it('cancels the run at once: nothing is sent after the delete answers, and the counts add up', async () => {
    const rows = ['email', ...Array.from({ length: 5_000 }, (_, i) => `d${i}@example.com`)];
    await uploadText(h.blobs, 'deltest', 'seg.csv', rows.join('\n'));
    const connection = await api(runner.url, 'POST', '/connections', {
      displayName: 'c',
      hostname: h.emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      dataPrivacyConsent: true,
    });
    const exp = await api(runner.url, 'POST', '/exports', {
      displayName: 'to delete',
      connectionId: connection.body.id,
      listId: 1,
      source: { container: 'deltest', path: 'seg.csv' },
      mapping: { email: 'email' },
    });
    const started = await api(runner.url, 'POST', `/exports/${exp.body.id}/runs`, {});
    await waitFor('two imports', async () => (h.emulator.acceptedImports >= 2 ? true : undefined), 60_000, 50);

    const deleted = await api(runner.url, 'DELETE', `/exports/${exp.body.id}`);
    const answeredAt = Date.now();
    expect(deleted.status).toBe(204);
    expect((await api(runner.url, 'GET', `/exports/${exp.body.id}`)).status).toBe(404);

    // Give the workers time to try (they hold budget slots for several seconds at 2 requests/s).
    await new Promise((r) => setTimeout(r, 6_000));
    const late = h.emulator.requests.filter((r) => r.kind === 'bulkImport' && r.at > answeredAt);
    expect(late).toEqual([]);

    const run = await waitFor('the cancelled run', async () => {
      const r = await h.svc.runs.getRun(exp.body.id, started.body.runId);
      return r && TERMINAL_STATUSES.has(r.status) ? r : undefined;
    });
    expect(run.status).toBe('cancelled');
    expect(run.error).toBe('The export was deleted');
    const c = run.counts;
    expect(c.read).toBe(5_000);
    expect(c.read).toBe(accountedRows(c));
    expect(c.upserted).toBeLessThan(5_000);
    // What the run never sent is not a failure (no failed-contacts alert for a delete).
    expect(c.failed).toBe(0);
    expect(c.notSent).toBeGreaterThan(0);

    // The schedule stopped with it: a refresh does not know the export any more.
    const refresh = await refreshExports(h.svc);
    expect([...refresh.started, ...refresh.skipped].find((x) => x.exportId === exp.body.id)).toBeUndefined();
  });
});
