import { accountedRows } from '../../shared/model.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
import {
  api,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
  counts,
} from '../support/harness.js';

const TERMINAL = ['completed', 'completedWithErrors', 'failed', 'cancelled'];

describe('an export run through the local runner', () => {
  let h: Harness;
  let runner: RunnerProcess;

  beforeAll(async () => {
    h = await startHarness({ requestsPerSecond: 20, bulkImportsPerMinute: 600 });
    // Runs start when asked: blob events (on by default in npm start) would start runs of exports set to refresh.
    runner = await startRunnerProcess(h.env, ['--triggers', 'http,timer,queue']);
  });

  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  it('exports a CSV segment into an ActiveCampaign list and accounts for every row', async () => {
    const rows = ['Email,First Name,LastName,Tier'];
    for (let i = 0; i < 600; i++) rows.push(`person${i}@example.com,First${i},Last${i},gold`);
    rows.push('not-an-email,Bad,Row,gold');
    rows.push(',Missing,Email,gold');
    rows.push('PERSON1@example.com,Dup,Licate,gold');
    await uploadText(h.blobs, 'segments', 'vip/customers.csv', rows.join('\n') + '\n');

    const connection = await api(runner.url, 'POST', '/connections', {
      displayName: 'Emulator',
      hostname: h.emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      dataPrivacyConsent: true,
    });
    expect(connection.status).toBe(201);
    expect(JSON.stringify(connection.body)).not.toContain(EMULATOR_API_KEY);

    const exp = await api(runner.url, 'POST', '/exports', {
      displayName: 'VIP customers',
      connectionId: connection.body.id,
      listId: 1,
      source: { container: 'segments', path: 'vip/customers.csv' },
      mapping: { email: 'email', firstName: 'First Name', lastName: 'LastName', fields: { '1': 'Tier' } },
    });
    expect(exp.status).toBe(201);

    const started = await api(runner.url, 'POST', `/exports/${exp.body.id}/runs`, {});
    expect(started.status).toBe(202);
    expect(started.body.status).toBe('queued');
    expect(started.headers.get('location')).toBe(`/api/exports/${exp.body.id}/runs/${started.body.runId}`);

    const again = await api(runner.url, 'POST', `/exports/${exp.body.id}/runs`, {});
    expect(again.status).toBe(409);
    expect(again.body.runId).toBe(started.body.runId);

    const run = await waitFor('the run to finish', async () => {
      const r = await api(runner.url, 'GET', `/exports/${exp.body.id}/runs/${started.body.runId}`);
      return TERMINAL.includes(r.body.status) ? r.body : undefined;
    });
    expect(run.status).toBe('completedWithErrors');
    expect(run.counts).toEqual(
      counts({ read: 603, rejected: 2, duplicate: 1, unchanged: 0, upserted: 600, unsubscribed: 0, failed: 0 }),
    );
    const c = run.counts;
    expect(c.read).toBe(accountedRows(c));
    expect(run.trigger).toBe('manual');
    expect(run.snapshot.files).toHaveLength(1);

    const members = h.emulator.listMembers(1);
    expect(members).toHaveLength(600);
    const first = h.emulator.contacts.get('person1@example.com')!;
    // The first row of a duplicated email wins.
    expect(first).toMatchObject({ firstName: 'First1', lastName: 'Last1', fields: { '1': 'gold' } });

    const rejected = await h.svc.runFiles.readText(run.rejectedRows);
    expect(rejected).toContain('file,row,email,reason');
    expect(rejected).toContain(
      'segments/vip/customers.csv,602,not-an-email,"invalid email: it needs exactly one ""@"" between a name and a domain"',
    );
    expect(rejected).toContain('segments/vip/customers.csv,603,,missing email');

    // The run's custom event and metrics (as log lines locally; Application Insights in Azure).
    await waitFor(
      'the run event',
      async () => (runner.output().includes('"event":"ExportRunFinished"') ? true : undefined),
      5_000,
    );
    const event = runner
      .output()
      .split('\n')
      .find((l) => l.includes('"event":"ExportRunFinished"'))!;
    const payload = JSON.parse(event.slice(event.indexOf('{')));
    expect(payload.properties).toMatchObject({
      exportId: exp.body.id,
      runId: started.body.runId,
      trigger: 'manual',
      status: 'completedWithErrors',
    });
    expect(payload.measurements).toMatchObject({ read: 603, upserted: 600, rejected: 2, duplicate: 1 });
    expect(payload.measurements.durationMs).toBeGreaterThan(0);
    expect(runner.output()).toMatch(/"metric":"ExportContactsSent","value":250/);
    // Every log line of the run's queue functions names the run.
    const runLines = runner
      .output()
      .split('\n')
      .filter((l) => /^\[(planRun|sendBatch|checkImport)\]/.test(l));
    expect(runLines.length).toBeGreaterThan(3);
    for (const line of runLines) expect(line).toContain(`[run ${started.body.runId} export ${exp.body.id}]`);

    const list = await api(runner.url, 'GET', `/exports/${exp.body.id}/runs`);
    expect(list.body.value.map((r: { runId: string }) => r.runId)).toContain(started.body.runId);
  });
});
