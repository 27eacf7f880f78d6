import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExport, describeExport, updateExport } from '../../shared/exports/exportService.js';
import { TERMINAL_STATUSES, type Export, type Run, type SyncMode } from '../../shared/model.js';
import type { StartRunOptions } from '../../shared/runs/runLifecycle.js';
import { refreshExports } from '../../shared/runs/scheduledRefresh.js';
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

interface Person {
  id: number;
  city: string;
}

const csv = (people: Person[], prefix: string) =>
  ['email,first,city', ...people.map((p) => `${prefix}${p.id}@example.com,P${p.id},${p.city}`)].join('\n');
const people = (from: number, to: number, city = 'Oslo'): Person[] =>
  Array.from({ length: to - from }, (_, i) => ({ id: from + i, city }));

describe('delta sync, mirror mode, dry runs and the scheduled refresh', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let connectionId: string;
  let listId = 10;

  beforeAll(async () => {
    h = await startHarness({
      requestsPerSecond: 100,
      bulkImportsPerMinute: 6_000,
      lists: Array.from({ length: 20 }, (_, i) => ({ id: i + 1, name: `List ${i + 1}` })),
      fields: [{ id: 1, title: 'City', type: 'text' }],
    });
    runner = await startRunnerProcess(h.env, ['--triggers', 'queue']);
    connectionId = await connectToEmulator(h);
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  async function newExport(prefix: string, mode: SyncMode, first: Person[]): Promise<Export> {
    await uploadText(h.blobs, 'delta', `${prefix}/segment.csv`, csv(first, prefix));
    return createExport(h.svc, adminCaller, {
      displayName: prefix,
      connectionId,
      listId: ++listId,
      mode,
      source: { container: 'delta', path: `${prefix}/segment.csv` },
      mapping: { email: 'email', firstName: 'first', fields: { '1': 'city' } },
    });
  }

  const run = (exp: Export, options: Partial<StartRunOptions> = {}): Promise<Run> => runToEnd(h, exp, options);

  /** Snapshot 2: 10 changed (city), 8 removed (90..97), 5 added (100..104). */
  const second = () => [...people(0, 10, 'Bergen'), ...people(10, 90), ...people(98, 100), ...people(100, 105)];

  it('upsert mode sends only new and changed contacts and leaves those who left alone', async () => {
    const exp = await newExport('ups', 'upsert', people(0, 100));
    const run1 = await run(exp);
    expect(run1.counts).toMatchObject({ read: 100, upserted: 100, unchanged: 0 });

    await uploadText(h.blobs, 'delta', 'ups/segment.csv', csv(second(), 'ups'));
    const importsBefore = h.emulator.acceptedImports;
    const run2 = await run(exp);
    expect(run2.counts).toEqual(
      counts({ read: 97, rejected: 0, duplicate: 0, unchanged: 82, upserted: 15, unsubscribed: 0, failed: 0 }),
    );
    expect(h.emulator.acceptedImports - importsBefore).toBe(1);
    const members = new Set(h.emulator.listMembers(listId));
    expect(members.size).toBe(105);
    expect(members.has('ups95@example.com')).toBe(true);
    expect(h.emulator.contacts.get('ups3@example.com')?.fields['1']).toBe('Bergen');
  });

  it('mirror mode also unsubscribes the contacts who left the segment', async () => {
    const exp = await newExport('mir', 'mirror', people(0, 100));
    await run(exp);
    await uploadText(h.blobs, 'delta', 'mir/segment.csv', csv(second(), 'mir'));
    const run2 = await run(exp);
    expect(run2.status).toBe('completed');
    expect(run2.counts).toEqual(
      counts({ read: 97, rejected: 0, duplicate: 0, unchanged: 82, upserted: 15, unsubscribed: 8, failed: 0 }),
    );
    const members = h.emulator.listMembers(listId).sort();
    expect(members).toHaveLength(97);
    expect(members).not.toContain('mir90@example.com');
    expect(h.emulator.contacts.get('mir90@example.com')?.lists[String(listId)]).toBe(2);

    // Nothing changed since: the next run sends nothing at all.
    const importsBefore = h.emulator.acceptedImports;
    const run3 = await run(exp);
    expect(run3.counts).toMatchObject({ read: 97, unchanged: 97, upserted: 0, unsubscribed: 0 });
    expect(h.emulator.acceptedImports).toBe(importsBefore);
  });

  it('a contact that failed in one run is sent by the next', async () => {
    const exp = await newExport('flk', 'upsert', people(0, 50));
    h.emulator.faults = { failInProcessing: (e) => e === 'flk7@example.com' };
    const run1 = await run(exp);
    h.emulator.faults = {};
    expect(run1.counts).toMatchObject({ read: 50, upserted: 49, failed: 1 });
    const run2 = await run(exp);
    expect(run2.counts).toMatchObject({ read: 50, unchanged: 49, upserted: 1, failed: 0 });
    expect(h.emulator.listMembers(listId)).toContain('flk7@example.com');
  });

  it('fullSync sends everything again; a dry run sends nothing and keeps a payload sample', async () => {
    const exp = await newExport('full', 'mirror', people(0, 40));
    await run(exp);
    const full = await run(exp, { fullSync: true });
    expect(full.counts).toMatchObject({ read: 40, unchanged: 0, upserted: 40 });

    await uploadText(h.blobs, 'delta', 'full/segment.csv', csv([...people(0, 30), ...people(40, 45, 'Rome')], 'full'));
    const importsBefore = h.emulator.acceptedImports;
    const dry = await run(exp, { dryRun: true });
    expect(dry.status).toBe('completed');
    expect(dry.dryRun).toBe(true);
    expect(dry.counts).toEqual(counts({ read: 35, unchanged: 30, wouldUpsert: 5, wouldUnsubscribe: 10 }));
    expect(h.emulator.acceptedImports).toBe(importsBefore);
    const sample = JSON.parse((await h.svc.runFiles.readText(dry.payloadSample!))!);
    expect(sample.contacts[0]).toMatchObject({
      email: 'full40@example.com',
      fields: [{ id: 1, value: 'Rome' }],
      subscribe: [{ listid: String(listId) }],
    });
    expect(sample.contacts.at(-1)).toMatchObject({ unsubscribe: [{ listid: String(listId) }] });
    // 10 of the 40 contacts last sent would leave: more than the default guard (10%), and the dry run says so.
    expect(dry.removals).toEqual({
      unsubscribes: 10,
      lastSent: 40,
      limitPercent: 10,
      allowed: 4,
      exceeded: true,
      confirmed: false,
    });
    // The dry run committed nothing, and the guard stops the real run before anything is sent.
    const stopped = await run(exp);
    expect(stopped.status).toBe('failed');
    expect(stopped.error).toMatch(
      /^Stopped before sending anything: this run would unsubscribe 10 of the 40 contacts the export last sent \(25\.0%\), more than its removal guard allows \(10%: 4\)/,
    );
    expect(stopped.counts).toEqual(counts({ read: 35, unchanged: 30, notSent: 5 }));
    expect(h.emulator.acceptedImports).toBe(importsBefore);
    const confirmed = await run(exp, {
      confirmation: { runId: stopped.runId, snapshotId: stopped.snapshot!.id, unsubscribes: 10, lastSent: 40 },
    });
    expect(confirmed.status).toBe('completed');
    expect(confirmed.removals).toMatchObject({ exceeded: true, confirmed: true });
    expect(confirmed.confirmRemovals).toBe(stopped.runId);
    expect(confirmed.counts).toMatchObject({ read: 35, unchanged: 30, upserted: 5, unsubscribed: 10 });
  });

  it('a scheduled refresh starts runs only for new snapshots, and a refresh of an unchanged one sends no request', async () => {
    const exp = await newExport('tick', 'upsert', people(0, 20));
    // The export's page says what the next tick will do.
    const outlook = async () => (await describeExport(h.svc, adminCaller, exp.id)).refresh;
    expect(await outlook()).toMatchObject({ wouldRun: true });
    expect(Date.parse((await outlook()).nextCheckAt!)).toBeGreaterThan(Date.now());
    const first = await refreshExports(h.svc);
    const started = first.started.find((s) => s.exportId === exp.id)!;
    expect(started).toBeDefined();
    // A second tick (or an on-demand start) while the run is active starts nothing.
    const overlapping = await refreshExports(h.svc);
    expect(overlapping.started.find((s) => s.exportId === exp.id)).toBeUndefined();
    await waitFor('the scheduled run', async () => {
      const r = await h.svc.runs.getRun(exp.id, started.runId);
      return r && TERMINAL_STATUSES.has(r.status) ? r : undefined;
    });
    expect((await h.svc.runs.getRun(exp.id, started.runId))?.trigger).toBe('schedule');

    const requestsBefore = h.emulator.requests.length;
    const idle = await refreshExports(h.svc);
    expect(idle.started.find((s) => s.exportId === exp.id)).toBeUndefined();
    expect(idle.skipped.find((s) => s.exportId === exp.id)?.reason).toBe('snapshot already exported');
    expect(h.emulator.requests.length).toBe(requestsBefore);
    expect(await outlook()).toMatchObject({ wouldRun: false, reason: 'snapshot already exported' });

    // An edit is applied by the next tick, on the same snapshot.
    await updateExport(h.svc, adminCaller, exp.id, { tags: ['Edited'] });
    expect(await outlook()).toMatchObject({ wouldRun: true });
    const edited = (await refreshExports(h.svc)).started.find((s) => s.exportId === exp.id)!;
    expect(edited).toBeDefined();
    expect(await outlook()).toMatchObject({ wouldRun: false, reason: `run ${edited.runId} is active` });
    await waitFor('the run after the edit', async () =>
      (await h.svc.runs.getRun(exp.id, edited.runId))?.finishedAt ? true : undefined,
    );
    expect((await h.svc.runs.getRun(exp.id, edited.runId))!.counts).toMatchObject({ upserted: 20 });
    expect(h.emulator.contacts.get('tick0@example.com')!.tags).toContain('Edited');

    await uploadText(h.blobs, 'delta', 'tick/segment.csv', csv(people(0, 21), 'tick'));
    expect(await outlook()).toMatchObject({ wouldRun: true });
    const next = await refreshExports(h.svc);
    expect(next.started.find((s) => s.exportId === exp.id)).toBeDefined();
  });

  it('manual exports are never started by the refresh', async () => {
    await uploadText(h.blobs, 'delta', 'man/segment.csv', csv(people(0, 3), 'man'));
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'manual',
      connectionId,
      listId: 1,
      schedule: 'manual',
      source: { container: 'delta', path: 'man/segment.csv' },
      mapping: { email: 'email' },
    });
    const result = await refreshExports(h.svc);
    expect(result.started.find((s) => s.exportId === exp.id)).toBeUndefined();
    expect(result.skipped.find((s) => s.exportId === exp.id)).toBeUndefined();
  });
});
