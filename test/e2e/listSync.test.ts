import { accountedRows } from '../../shared/model.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
import { refreshExports } from '../../shared/runs/scheduledRefresh.js';
import { newRunId, runStartedAt } from '../../shared/runs/runModel.js';
import { runFileNames } from '../../shared/store/runFiles.js';
import { apiKeySecretName } from '../../shared/secrets/secretStore.js';
import {
  api,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

const FIELDS = [
  { id: 1, title: 'Birthday', type: 'date' },
  { id: 2, title: 'Tier', type: 'dropdown', options: ['Gold', 'Silver'] },
  { id: 3, title: 'Interests', type: 'checkbox', options: ['Golf', 'Sailing', 'Chess'] },
  { id: 4, title: 'City', type: 'text' },
];

describe('what marketers expect of a list sync', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let connectionId: string;

  beforeAll(async () => {
    h = await startHarness({
      requestsPerSecond: 100,
      bulkImportsPerMinute: 6_000,
      fields: FIELDS,
      lists: [
        { id: 1, name: 'Newsletter' },
        { id: 2, name: 'VIP' },
        { id: 3, name: 'Slow' },
      ],
    });
    // Runs start when asked: blob events (on by default in npm start) would start runs of exports set to refresh.
    runner = await startRunnerProcess(h.env, ['--triggers', 'http,timer,queue']);
    connectionId = (
      await api(runner.url, 'POST', '/connections', {
        displayName: 'Main',
        hostname: h.emulator.hostname,
        apiKey: EMULATOR_API_KEY,
        dataPrivacyConsent: true,
      })
    ).body.id;
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  async function runToEnd(exportId: string, body: object = {}) {
    const started = await api(runner.url, 'POST', `/exports/${exportId}/runs`, body);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    return waitFor(
      'the run',
      async () => {
        const r = await api(runner.url, 'GET', `/exports/${exportId}/runs/${started.body.runId}`);
        return r.body.finishedAt ? r.body : undefined;
      },
      60_000,
    );
  }

  it("lists the account's lists and fields (with options) for the console", async () => {
    expect((await api(runner.url, 'GET', `/connections/${connectionId}/lists`)).body.value).toEqual([
      { id: '1', name: 'Newsletter' },
      { id: '2', name: 'VIP' },
      { id: '3', name: 'Slow' },
    ]);
    const fields = (await api(runner.url, 'GET', `/connections/${connectionId}/fields`)).body.value;
    expect(fields.find((f: { id: string }) => f.id === '3')).toEqual({
      id: '3',
      title: 'Interests',
      type: 'checkbox',
      options: ['Golf', 'Sailing', 'Chess'],
    });
  });

  it('sends tags, exclude_automations and typed custom fields; a value that does not convert rejects only its row', async () => {
    await uploadText(
      h.blobs,
      'sync',
      'typed.csv',
      [
        'email,bday,tier,interests,segments',
        'ann@example.com,2001-02-03,gold,Golf;Chess,VIP;EU',
        'bob@example.com,20010203,Silver,,',
        'cyd@example.com,3/4/2001,Gold,,',
        'dee@example.com,,Bronze,,',
      ].join('\n'),
    );
    const created = await api(runner.url, 'POST', '/exports', {
      displayName: 'Typed',
      connectionId,
      listId: 1,
      source: { container: 'sync', path: 'typed.csv' },
      tags: ['CI: High value'],
      runAutomations: false,
      mapping: { email: 'email', tags: 'segments', fields: { '1': 'bday', '2': 'tier', '3': 'interests' } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.fieldTypes['2']).toEqual({
      id: '2',
      title: 'Tier',
      type: 'dropdown',
      options: ['Gold', 'Silver'],
    });
    const automationsBefore = h.emulator.automationsTriggered;
    const run = await runToEnd(created.body.id);
    expect(run.status).toBe('completedWithErrors');
    expect(run.counts).toMatchObject({ read: 4, rejected: 2, upserted: 2, failed: 0 });
    expect(run.reasons).toEqual([
      {
        kind: 'rejected',
        reason: 'column "bday" → field 1 "Birthday" (date): a value that does not convert',
        count: 1,
      },
      {
        kind: 'rejected',
        reason: 'column "tier" → field 2 "Tier" (dropdown): a value that does not convert',
        count: 1,
      },
    ]);
    const ann = h.emulator.contacts.get('ann@example.com')!;
    expect(ann.fields).toEqual({ '1': '2001-02-03', '2': 'Gold', '3': '||Golf||Chess||' });
    expect(ann.tags).toEqual(['CI: High value', 'VIP', 'EU']);
    expect(h.emulator.contacts.get('bob@example.com')!.fields['1']).toBe('2001-02-03');
    expect(h.emulator.automationsTriggered).toBe(automationsBefore);
    const csv = await fetch(`${runner.url}/exports/${created.body.id}/runs/${run.runId}/rejected`, {
      headers: { 'x-ms-client-principal': (await import('../support/harness.js')).adminHeader },
    }).then((r) => r.text());
    expect(csv).toContain(
      'sync/typed.csv,4,cyd@example.com,"column ""bday"" → field 1 ""Birthday"" (date): ""3/4/2001"" is not a date',
    );
    expect(csv).toContain(
      'sync/typed.csv,5,dee@example.com,"column ""tier"" → field 2 ""Tier"" (dropdown): ""Bronze"" is not one of the field\'s options (Gold, Silver)"',
    );

    // A tag change is a change: the next run sends the contacts whose tags changed, and automations can be turned on.
    const edited = await api(runner.url, 'PATCH', `/exports/${created.body.id}`, {
      tags: ['CI: High value', 'Winter'],
      runAutomations: true,
    });
    expect(edited.status).toBe(200);
    const again = await runToEnd(created.body.id);
    expect(again.counts).toMatchObject({ upserted: 2, unchanged: 0 });
    expect(h.emulator.contacts.get('bob@example.com')!.tags).toEqual(['CI: High value', 'Winter']);
    expect(h.emulator.automationsTriggered).toBe(automationsBefore + 2);
  });

  it('edits an export (validated as on creation, not while it runs); a mapping or list change resends what changed', async () => {
    await uploadText(
      h.blobs,
      'sync',
      'edit.csv',
      [
        'email,city,town',
        ...Array.from({ length: 20 }, (_, i) => `e${i}@example.com,Oslo,${i < 5 ? 'Bergen' : 'Oslo'}`),
      ].join('\n'),
    );
    const exp = (
      await api(runner.url, 'POST', '/exports', {
        displayName: 'Edit',
        connectionId,
        listId: 1,
        source: { container: 'sync', path: 'edit.csv' },
        mapping: { email: 'email', fields: { '4': 'city' } },
      })
    ).body;
    expect((await runToEnd(exp.id)).counts.upserted).toBe(20);
    expect((await runToEnd(exp.id)).counts).toMatchObject({ upserted: 0, unchanged: 20 });
    // Validated as on creation.
    expect((await api(runner.url, 'PATCH', `/exports/${exp.id}`, { listId: 99 })).body.error.message).toMatch(
      /list 99 does not exist/,
    );
    expect(
      (await api(runner.url, 'PATCH', `/exports/${exp.id}`, { mapping: { email: 'email', fields: { '4': 'nope' } } }))
        .body.error.message,
    ).toMatch(/no field 4 column "nope"/);
    expect(
      (await api(runner.url, 'PATCH', `/exports/${exp.id}`, { connectionId: 'not-a-connection' })).body.error.code,
    ).toBe('UnknownConnection');
    expect((await api(runner.url, 'PATCH', `/exports/${exp.id}`, { unknownSetting: 1 })).status).toBe(400);
    // Another column for the field: only the contacts whose mapped value changed are sent.
    const remapped = await api(runner.url, 'PATCH', `/exports/${exp.id}`, {
      mapping: { email: 'email', fields: { '4': 'town' } },
    });
    expect(remapped.body).toMatchObject({ mapping: { fields: { '4': 'town' } }, updatedBy: 'admin@example.com' });
    expect((await runToEnd(exp.id)).counts).toMatchObject({ upserted: 5, unchanged: 15 });
    expect(h.emulator.contacts.get('e3@example.com')!.fields['4']).toBe('Bergen');
    // Another list: everyone is sent to it.
    await api(runner.url, 'PATCH', `/exports/${exp.id}`, { listId: 2 });
    expect((await runToEnd(exp.id)).counts).toMatchObject({ upserted: 20, unchanged: 0 });
    expect(h.emulator.listMembers(2)).toHaveLength(20);
    // Not while a run is active.
    const started = await api(runner.url, 'POST', `/exports/${exp.id}/runs`, { fullSync: true });
    const refused = await api(runner.url, 'PATCH', `/exports/${exp.id}`, { displayName: 'x' });
    if (refused.status === 409)
      expect(refused.body).toMatchObject({ error: { code: 'RunActive' }, runId: started.body.runId });
    else
      expect(
        (await api(runner.url, 'GET', `/exports/${exp.id}/runs/${started.body.runId}`)).body.finishedAt,
      ).toBeDefined();
    await waitFor('the run', async () =>
      (await api(runner.url, 'GET', `/exports/${exp.id}/runs/${started.body.runId}`)).body.finishedAt
        ? true
        : undefined,
    );
  });

  it('orders an edit and the start of a run: with ActiveCampaign slow, no run starts while an edit is checked, and none sends on settings an edit changes', async () => {
    await uploadText(
      h.blobs,
      'sync',
      'order.csv',
      ['email', ...Array.from({ length: 300 }, (_, i) => `o${i}@example.com`)].join('\n'),
    );
    const exp = (
      await api(runner.url, 'POST', '/exports', {
        displayName: 'Order',
        connectionId,
        listId: 1,
        source: { container: 'sync', path: 'order.csv' },
        mapping: { email: 'email' },
      })
    ).body;
    const since = Date.now();
    h.emulator.faults = { delayInMs: 1_500 };
    try {
      const patching = api(runner.url, 'PATCH', `/exports/${exp.id}`, { listId: 2 });
      await waitFor(
        'the edit to check the list',
        async () => (h.emulator.requests.some((r) => r.path === '/api/3/lists/2' && r.at >= since) ? true : undefined),
        10_000,
        20,
      );
      const refused = await api(runner.url, 'POST', `/exports/${exp.id}/runs`, {});
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'ExportBeingEdited',
        message: expect.stringMatching(/is being edited right now/),
      });
      expect((await patching).status).toBe(200);
    } finally {
      h.emulator.faults = {};
    }
    // The run starts after the edit, on the new list only.
    const started = await api(runner.url, 'POST', `/exports/${exp.id}/runs`, {});
    expect(started.status).toBe(202);
    await waitFor(
      'the run to send',
      async () =>
        (await api(runner.url, 'GET', `/exports/${exp.id}/runs/${started.body.runId}`)).body.status === 'sending'
          ? true
          : undefined,
      30_000,
      20,
    );
    // While it is active, an edit is refused (and changes nothing).
    const edit = await api(runner.url, 'PATCH', `/exports/${exp.id}`, { listId: 1 });
    if (edit.status !== 409)
      expect(
        (await api(runner.url, 'GET', `/exports/${exp.id}/runs/${started.body.runId}`)).body.finishedAt,
      ).toBeDefined();
    else expect(edit.body).toMatchObject({ error: { code: 'RunActive' }, runId: started.body.runId });
    await waitFor('the run', async () =>
      (await api(runner.url, 'GET', `/exports/${exp.id}/runs/${started.body.runId}`)).body.finishedAt
        ? true
        : undefined,
    );
    expect(h.emulator.listMembers(2).filter((e) => e.startsWith('o'))).toHaveLength(300);
    expect(h.emulator.listMembers(1).filter((e) => e.startsWith('o'))).toEqual([]);
  });

  it('moves an export to another connection, checked as on creation, so that the old connection can be deleted', async () => {
    await uploadText(h.blobs, 'sync', 'moveconn.csv', 'email\nmc1@example.com\nmc2@example.com\n');
    const old = (
      await api(runner.url, 'POST', '/connections', {
        displayName: 'Old key',
        hostname: h.emulator.hostname,
        apiKey: EMULATOR_API_KEY,
        dataPrivacyConsent: true,
      })
    ).body.id;
    const exp = (
      await api(runner.url, 'POST', '/exports', {
        displayName: 'Moving',
        connectionId: old,
        listId: 1,
        source: { container: 'sync', path: 'moveconn.csv' },
        mapping: { email: 'email' },
      })
    ).body;
    expect((await runToEnd(exp.id)).counts.upserted).toBe(2);
    const inUse = await api(runner.url, 'DELETE', `/connections/${old}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.error.message).toMatch(
      /Move them to another connection \(Edit → Connection, or PATCH connectionId\) or delete them first/,
    );
    expect(
      (await api(runner.url, 'PATCH', `/exports/${exp.id}`, { connectionId: 'a1b2c3d4-0000-4000-8000-000000000000' }))
        .body.error.code,
    ).toBe('UnknownConnection');
    const moved = await api(runner.url, 'PATCH', `/exports/${exp.id}`, { connectionId });
    expect(moved.status).toBe(200);
    expect(moved.body.connectionId).toBe(connectionId);
    expect((await api(runner.url, 'DELETE', `/connections/${old}`)).status).toBe(204);
    // The same account under another connection: the export's state stays, nothing is sent again.
    expect((await runToEnd(exp.id)).counts).toMatchObject({ unchanged: 2, upserted: 0 });
  });

  it('starts afresh on another list: mirror mode never unsubscribes from the new list contacts who were only on the old one', async () => {
    const everyone = Array.from({ length: 20 }, (_, i) => `m${i}@example.com`);
    await uploadText(h.blobs, 'sync', 'move.csv', ['email', ...everyone].join('\n'));
    const exp = (
      await api(runner.url, 'POST', '/exports', {
        displayName: 'Move',
        connectionId,
        listId: 1,
        mode: 'mirror',
        source: { container: 'sync', path: 'move.csv' },
        mapping: { email: 'email' },
      })
    ).body;
    expect((await runToEnd(exp.id)).counts.upserted).toBe(20);
    // One contact leaves the segment (within the removal guard) as the export moves to list 2.
    await uploadText(h.blobs, 'sync', 'move.csv', ['email', ...everyone.slice(1)].join('\n'));
    expect((await api(runner.url, 'PATCH', `/exports/${exp.id}`, { listId: 2 })).status).toBe(200);
    const moved = await runToEnd(exp.id);
    expect(moved.counts).toMatchObject({ read: 19, upserted: 19, unsubscribed: 0, failed: 0 });
    expect(
      h.emulator
        .listMembers(2)
        .filter((e) => e.startsWith('m'))
        .sort(),
    ).toEqual(everyone.slice(1).sort());
    expect(h.emulator.contacts.get('m0@example.com')!.lists).toEqual({ '1': 1 });
  });

  it('cancels a run without deleting its export: nothing is sent after the answer, counts add up, state stays', async () => {
    h.emulator.options.requestsPerSecond = 2;
    await uploadText(
      h.blobs,
      'sync',
      'cancel.csv',
      ['email', ...Array.from({ length: 3_000 }, (_, i) => `k${i}@example.com`)].join('\n'),
    );
    const exp = (
      await api(runner.url, 'POST', '/exports', {
        displayName: 'Cancel',
        connectionId,
        listId: 3,
        source: { container: 'sync', path: 'cancel.csv' },
        mapping: { email: 'email' },
      })
    ).body;
    const slow = await startRunnerProcess({ ...h.env, ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '2' }, [
      '--triggers',
      'queue',
    ]);
    try {
      const importsBefore = h.emulator.acceptedImports;
      const started = await api(runner.url, 'POST', `/exports/${exp.id}/runs`, {});
      await waitFor(
        'two imports',
        async () => (h.emulator.acceptedImports - importsBefore >= 2 ? true : undefined),
        60_000,
        50,
      );
      const cancelled = await api(runner.url, 'POST', `/exports/${exp.id}/runs/${started.body.runId}/cancel`);
      const answeredAt = Date.now();
      expect(cancelled.status).toBe(202);
      expect(cancelled.body).toMatchObject({ status: 'cancelled', error: 'Cancelled by admin@example.com' });
      const c = cancelled.body.counts;
      expect(c.read).toBe(accountedRows(c));
      await new Promise((r) => setTimeout(r, 4_000));
      expect(h.emulator.requests.filter((r) => r.kind === 'bulkImport' && r.at > answeredAt)).toEqual([]);
      expect((await api(runner.url, 'POST', `/exports/${exp.id}/runs/${started.body.runId}/cancel`)).status).toBe(409);
      expect((await api(runner.url, 'GET', `/exports/${exp.id}`)).status).toBe(200);
      // Imports ActiveCampaign accepted before the cancel are checked to their end: delivered
      // contacts count as delivered (never failed), the rest as not sent; no failed-contacts metric.
      const delivered = () => h.emulator.listMembers(3).filter((e) => e.startsWith('k')).length;
      const settled = await waitFor(
        'the accepted imports counted',
        async () => {
          const r = (await api(runner.url, 'GET', `/exports/${exp.id}/runs/${started.body.runId}`)).body;
          return r.counts.unknown === 0 && r.counts.upserted === delivered() ? r : undefined;
        },
        30_000,
      );
      expect(settled.status).toBe('cancelled');
      expect(settled.counts.upserted).toBeGreaterThanOrEqual(500);
      expect(settled.counts).toMatchObject({ failed: 0, notSent: 3_000 - settled.counts.upserted });
      expect(accountedRows(settled.counts)).toBe(3_000);
      const failedMetrics = [runner, slow].flatMap((p) =>
        [...p.output().matchAll(/"metric":"ExportFailedContacts".*?"runId":"(\w+)"/g)].map((m) => m[1]),
      );
      expect(failedMetrics).not.toContain(started.body.runId);
      // The state was not committed: the next run sends everyone again.
      const next = await api(runner.url, 'POST', `/exports/${exp.id}/runs`, { dryRun: true });
      const dry = await waitFor('the dry run', async () => {
        const r = await api(runner.url, 'GET', `/exports/${exp.id}/runs/${next.body.runId}`);
        return r.body.finishedAt ? r.body : undefined;
      });
      expect(dry.counts).toMatchObject({ wouldUpsert: 3_000, upserted: 0, unchanged: 0 });
    } finally {
      h.emulator.options.requestsPerSecond = 100;
      await slow.stop();
    }
  }, 120_000);

  it("deletes run files after RUN_RETENTION_DAYS, and an export's state and run files with the export; a connection's key with the connection", async () => {
    await uploadText(h.blobs, 'sync', 'keep.csv', 'email\nbad-one\nok@example.com\n');
    const exp = (
      await api(runner.url, 'POST', '/exports', {
        displayName: 'Keep',
        connectionId,
        listId: 1,
        source: { container: 'sync', path: 'keep.csv' },
        mapping: { email: 'email' },
      })
    ).body;
    const run = await runToEnd(exp.id);
    expect(run.rejectedRows).toBeDefined();
    // Files of a run that started 31 days ago.
    const oldRunId = newRunId(Date.now() - 31 * 86_400_000);
    expect(runStartedAt(oldRunId)).toBeLessThan(Date.now() - 30 * 86_400_000);
    const container = await h.svc.runFiles.ready();
    await container.getBlockBlobClient(runFileNames.rejected(oldRunId)).upload('x', 1);
    await container.getBlockBlobClient(runFileNames.sample(oldRunId)).upload('x', 1);
    const refreshed = await refreshExports(h.svc);
    expect(refreshed.expiredRuns).toBeGreaterThanOrEqual(1);
    expect(await container.getBlobClient(runFileNames.rejected(oldRunId)).exists()).toBe(false);
    expect(await container.getBlobClient(runFileNames.rejected(run.runId)).exists()).toBe(true);

    const pointer = await h.svc.exportState.pointer(exp.id);
    expect(pointer).toBeDefined();
    expect((await api(runner.url, 'DELETE', `/exports/${exp.id}`)).status).toBe(204);
    expect(await h.svc.exportState.pointer(exp.id)).toBeUndefined();
    expect(await container.getBlobClient(pointer!.blob).exists()).toBe(false);
    expect(await container.getBlobClient(runFileNames.rejected(run.runId)).exists()).toBe(false);

    const extra = (
      await api(runner.url, 'POST', '/connections', {
        displayName: 'Spare',
        hostname: h.emulator.hostname,
        apiKey: EMULATOR_API_KEY,
        dataPrivacyConsent: true,
      })
    ).body;
    expect(await h.svc.secrets.get(apiKeySecretName(extra.id))).toBe(EMULATOR_API_KEY);
    expect((await api(runner.url, 'DELETE', `/connections/${extra.id}`)).status).toBe(204);
    expect(await h.svc.secrets.get(apiKeySecretName(extra.id))).toBeUndefined();
  });
});
