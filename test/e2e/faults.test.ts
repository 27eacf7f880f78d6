import { accountedRows } from '../../shared/model.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport } from '../../shared/exports/exportService.js';
import type { Run } from '../../shared/model.js';
import type { EmulatorFaults } from '../../tools/acEmulator/server.js';
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
  counts,
} from '../support/harness.js';

describe('runs under ActiveCampaign faults (local runner, emulator fault modes)', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let connectionId: string;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness({ requestsPerSecond: 50, bulkImportsPerMinute: 3_000 });
    runner = await startRunnerProcess(h.env, ['--triggers', 'queue']);
    connectionId = await connectToEmulator(h);
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  /** Exports `count` fresh contacts into a list of their own and waits for the run to end. */
  async function exportContacts(
    count: number,
    prefix: string,
    faults: EmulatorFaults | (() => EmulatorFaults) = {},
  ): Promise<{ run: Run; emails: string[]; listId: number }> {
    const listId = 1;
    const emails = Array.from({ length: count }, (_, i) => `${prefix}${i}@example.com`);
    const path = `faults/${prefix}-${n++}.csv`;
    await uploadText(h.blobs, 'segments', path, ['email', ...emails].join('\n'));
    const exp = await createExport(h.svc, adminCaller, {
      displayName: prefix,
      connectionId,
      listId,
      source: { container: 'segments', path },
      mapping: { email: 'email' },
    });
    h.emulator.faults = typeof faults === 'function' ? faults() : faults;
    const run = await runToEnd(h, exp, {}, 90_000);
    h.emulator.faults = {};
    return { run, emails, listId };
  }

  const inList = (emails: string[]) => {
    const members = new Set(h.emulator.listMembers(1));
    return emails.filter((e) => members.has(e));
  };

  it('resends the rest of a batch when ActiveCampaign rejects one contact, and records it as rejected', async () => {
    const { run, emails } = await exportContacts(300, 'val', {
      rejectInValidation: (e) => e === 'val3@example.com' || e === 'val260@example.com',
    });
    expect(run.status).toBe('completedWithErrors');
    expect(run.counts).toMatchObject({ read: 300, rejected: 2, upserted: 298, failed: 0 });
    expect(inList(emails)).toHaveLength(298);
    const csv = await h.svc.runFiles.readText(run.rejectedRows!);
    expect(csv).toContain('val3@example.com,ActiveCampaign: Field‘ email’ is on a blocklist');
    expect(csv).toContain('val260@example.com');
  });

  it('waits out a storm of 429s without losing or failing a contact', async () => {
    const refusedBefore = h.emulator.refusedForRate;
    const { run, emails } = await exportContacts(600, 'storm', () => ({ throttleUntil: Date.now() + 2_500 }));
    expect(h.emulator.refusedForRate).toBeGreaterThan(refusedBefore);
    expect(run.status).toBe('completed');
    expect(run.counts).toMatchObject({ read: 600, upserted: 600, failed: 0 });
    expect(inList(emails)).toHaveLength(600);
  });

  it('gives a batch up after a bounded number of interrupted imports; a run that sent nothing is failed, with the reason', async () => {
    const { run, emails } = await exportContacts(50, 'interrupt', {
      importOutcome: { status: 'interrupted', count: 3 },
    });
    expect(run.status).toBe('failed');
    expect(run.error).toBe(
      'No contact reached ActiveCampaign: 50 failed, most with "ActiveCampaign reported the import interrupted"',
    );
    expect(run.counts).toMatchObject({ read: 50, upserted: 0, failed: 50 });
    expect(inList(emails)).toHaveLength(0);
  });

  it('counts contacts listed in failure as failed', async () => {
    const { run } = await exportContacts(30, 'proc', { failInProcessing: (e) => e.startsWith('proc1') });
    // proc1 and proc10..proc19
    expect(run.counts).toMatchObject({ read: 30, upserted: 19, failed: 11 });
    const c = run.counts;
    expect(c.read).toBe(accountedRows(c));
  });

  it('stops the run at once when ActiveCampaign answers with its login page while it sends (a bad key): failed, saying what to do, nothing more posted', async () => {
    const importsBefore = h.emulator.requests.filter((r) => r.kind === 'bulkImport').length;
    const emails = Array.from({ length: 2_000 }, (_, i) => `html${i}@example.com`);
    await uploadText(h.blobs, 'segments', 'faults/html.csv', ['email', ...emails].join('\n'));
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'html',
      connectionId,
      listId: 1,
      source: { container: 'segments', path: 'faults/html.csv' },
      mapping: { email: 'email' },
    });
    const started = await startRun(h.svc, exp, { trigger: 'manual' });
    // The key is refused once the run sends (it was accepted when the run began).
    await waitFor(
      'the first import',
      async () =>
        h.emulator.requests.filter((r) => r.kind === 'bulkImport').length > importsBefore ? true : undefined,
      60_000,
      5,
    );
    h.emulator.faults = { htmlLoginPage: true };
    const run = await waitFor(
      'the run',
      async () => {
        const r = await h.svc.runs.getRun(exp.id, started.runId);
        return r?.finishedAt ? r : undefined;
      },
      60_000,
    );
    h.emulator.faults = {};
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      /^ActiveCampaign refused the API key of connection "emulator" \(127\.0\.0\.1:\d+, 200\); nothing more was sent\. Replace the key/,
    );
    expect(run.counts.read).toBe(2_000);
    expect(run.counts.upserted).toBeLessThan(2_000);
    // Eight batches were ready to go: only those already past their last check when the key was refused were posted.
    const posts = h.emulator.requests.filter((r) => r.kind === 'bulkImport').slice(importsBefore);
    expect(posts.length).toBeGreaterThan(0);
    expect(posts.filter((r) => r.at > Date.parse(run.finishedAt!))).toEqual([]);
  });

  it('fails a run whose key was revoked after the export was saved (403) before it plans: nothing read, nothing sent, saying what to do', async () => {
    const keys = h.emulator.options.apiKeys;
    const importsBefore = h.emulator.requests.filter((r) => r.kind === 'bulkImport').length;
    try {
      const { run } = await exportContacts(
        1_000,
        'revoked',
        () => ((h.emulator.options.apiKeys = ['another-key']), {}),
      );
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(
        /^ActiveCampaign refused the API key of connection "emulator" \(127\.0\.0\.1:\d+, 403\); nothing more was sent\. Replace the key/,
      );
      expect(run.counts).toEqual(
        counts({ read: 0, rejected: 0, duplicate: 0, unchanged: 0, upserted: 0, unsubscribed: 0, failed: 0 }),
      );
      expect(run.snapshot?.files).toHaveLength(1);
      expect(h.emulator.requests.filter((r) => r.kind === 'bulkImport').length).toBe(importsBefore);
    } finally {
      h.emulator.options.apiKeys = keys;
    }
  });

  it('counts every contact in the summary of a run that completed with errors', async () => {
    const { run } = await exportContacts(30, 'sum', { failInProcessing: (e) => e === 'sum3@example.com' });
    expect(run.status).toBe('completedWithErrors');
    expect(run.error).toBe(
      '1 contact(s) failed and will be sent again by the next run: ActiveCampaign could not process the contact (1)',
    );
    expect(run.reasons).toEqual([{ kind: 'failed', reason: 'ActiveCampaign could not process the contact', count: 1 }]);
  });
});
