import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/config.js';
import { createConnection, deleteConnection } from '../../shared/connections/connectionService.js';
import { ConflictError } from '../../shared/errors.js';
import { createExport, deleteExport, updateExport } from '../../shared/exports/exportService.js';
import { startManualRun } from '../../shared/exports/runService.js';
import type { Export, SyncMode } from '../../shared/model.js';
import { refreshExports } from '../../shared/runs/scheduledRefresh.js';
import { createServices } from '../../shared/services.js';
import { runFileNames } from '../../shared/store/runFiles.js';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
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

const MAX_ROWS = 150_000;
const emails = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}@example.com`);
const csv = (list: string[]) => ['email', ...list].join('\n');

describe('safe to trust with a real list', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let connectionId: string;
  let listId = 100;

  beforeAll(async () => {
    h = await startHarness({
      requestsPerSecond: 200,
      bulkImportsPerMinute: 12_000,
      lists: Array.from({ length: 40 }, (_, i) => ({ id: i + 101, name: `List ${i + 101}` })),
    });
    runner = await startRunnerProcess({ ...h.env, SNAPSHOT_MAX_ROWS: String(MAX_ROWS) }, ['--triggers', 'queue']);
    connectionId = await connectToEmulator(h);
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
  });

  async function newExport(
    prefix: string,
    mode: SyncMode,
    rows: string,
    extra: Partial<Parameters<typeof createExport>[2]> = {},
  ): Promise<Export> {
    await uploadText(h.blobs, 'safety', `${prefix}/segment.csv`, rows);
    return createExport(h.svc, adminCaller, {
      displayName: prefix,
      connectionId,
      listId: ++listId,
      mode,
      source: { container: 'safety', path: `${prefix}/segment.csv` },
      mapping: { email: 'email' },
      ...extra,
    });
  }

  it('stops a mirror run that would unsubscribe most of the list, before anything is sent, on demand and on schedule', async () => {
    const exp = await newExport('shrink', 'mirror', csv(emails('s', 0, 1000)));
    expect((await runToEnd(h, exp)).counts.upserted).toBe(1000);
    await uploadText(h.blobs, 'safety', 'shrink/segment.csv', csv(emails('s', 0, 5)));
    const importsBefore = h.emulator.acceptedImports;
    const stopped = await runToEnd(h, exp);
    expect(stopped.status).toBe('failed');
    expect(stopped.error).toMatch(
      /^Stopped before sending anything: this run would unsubscribe 995 of the 1000 contacts/,
    );
    expect(stopped.removals).toEqual({
      unsubscribes: 995,
      lastSent: 1000,
      limitPercent: 10,
      allowed: 100,
      exceeded: true,
      confirmed: false,
    });
    expect(stopped.counts).toEqual(
      counts({ read: 5, rejected: 0, duplicate: 0, unchanged: 5, upserted: 0, unsubscribed: 0, failed: 0 }),
    );
    expect(h.emulator.acceptedImports).toBe(importsBefore);
    expect(h.emulator.listMembers(listId)).toHaveLength(1000);
    // The alert rules fire on a failed run; the event says why.
    await waitFor(
      'the event',
      async () => (runner.output().includes('"errorCode":"RemovalGuard"') ? true : undefined),
      10_000,
    );

    // The scheduled refresh leaves a snapshot stopped at the guard to a person: repeating it would
    // plan it, stop again and alert, every tick.
    const after = await refreshExports(h.svc);
    expect(after.started.map((s) => s.exportId)).not.toContain(exp.id);
    expect(after.skipped.find((s) => s.exportId === exp.id)?.reason).toMatch(
      /stopped at the removal guard on this snapshot: waiting for a person/,
    );

    // A scheduled refresh cannot confirm: on a new snapshot that shrank as much, it stops the same way.
    await uploadText(h.blobs, 'safety', 'shrink/segment.csv', csv(emails('s', 0, 6)));
    const refresh = await refreshExports(h.svc);
    const started = refresh.started.find((s) => s.exportId === exp.id)!;
    const scheduled = await waitFor('the scheduled run', async () => {
      const r = await h.svc.runs.getRun(exp.id, started.runId);
      return r?.finishedAt ? r : undefined;
    });
    expect(scheduled.status).toBe('failed');
    expect(h.emulator.acceptedImports).toBe(importsBefore);
    const next = await refreshExports(h.svc);
    expect(next.started.map((s) => s.exportId)).not.toContain(exp.id);
    expect(next.skipped.find((s) => s.exportId === exp.id)?.reason).toMatch(
      /stopped at the removal guard on this snapshot: waiting for a person/,
    );
  });

  it('confirms only the removals an administrator reviewed: a segment that shrank further after the review stops again, with the new numbers', async () => {
    const exp = await newExport('review', 'mirror', csv(emails('v', 0, 1000)));
    await runToEnd(h, exp);
    await uploadText(h.blobs, 'safety', 'review/segment.csv', csv(emails('v', 0, 500)));
    const stopped = await runToEnd(h, exp);
    expect(stopped.removals).toMatchObject({ unsubscribes: 500, lastSent: 1000, exceeded: true, confirmed: false });
    const finished = (runId: string) =>
      waitFor(`run ${runId}`, async () => {
        const r = await h.svc.runs.getRun(exp.id, runId);
        return r?.finishedAt ? r : undefined;
      });
    // Only an administrator confirms, and a contributor may not raise the guard instead.
    const shared = await createConnection(h.svc, adminCaller, {
      displayName: 'shared',
      hostname: h.emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      allowContributors: true,
      dataPrivacyConsent: true,
    });
    const contributed = await createExport(h.svc, adminCaller, {
      displayName: 'contributed',
      connectionId: shared.id,
      listId: ++listId,
      mode: 'mirror',
      source: { container: 'safety', path: 'review/segment.csv' },
      mapping: { email: 'email' },
    });
    const contributor = { name: 'contributor@example.com', roles: ['contributor' as const] };
    await expect(
      startManualRun(h.svc, contributor, contributed.id, { confirmRemovals: stopped.runId }),
    ).rejects.toMatchObject({
      code: 'Forbidden',
      message: 'confirmRemovals: only administrators may confirm removals',
    });
    await expect(updateExport(h.svc, contributor, contributed.id, { removalGuardPercent: 60 })).rejects.toMatchObject({
      code: 'Forbidden',
      message: 'removalGuardPercent: only administrators may raise the removal guard above 10%',
    });
    expect(
      (await updateExport(h.svc, contributor, contributed.id, { removalGuardPercent: 5 })).removalGuardPercent,
    ).toBe(5);

    // The snapshot shrinks to 3 rows after the review: the confirmation of 500 removals does not cover 997.
    await uploadText(h.blobs, 'safety', 'review/segment.csv', csv(emails('v', 0, 3)));
    const importsBefore = h.emulator.acceptedImports;
    const again = await finished(
      (await startManualRun(h.svc, adminCaller, exp.id, { confirmRemovals: stopped.runId })).runId,
    );
    expect(again.status).toBe('failed');
    expect(again.confirmRemovals).toBe(stopped.runId);
    expect(again.error).toContain(
      `the removals confirmed from run ${stopped.runId} are not what this run found (the segment has another snapshot now, and run ${stopped.runId} showed 500 of 1000): this run would unsubscribe 997 of the 1000 contacts`,
    );
    expect(again.removals).toMatchObject({ unsubscribes: 997, exceeded: true, confirmed: false });
    expect(h.emulator.acceptedImports).toBe(importsBefore);
    expect(h.emulator.listMembers(listId - 1)).toHaveLength(1000);
    // The first stop is no longer the last run: confirming it is refused.
    await expect(startManualRun(h.svc, adminCaller, exp.id, { confirmRemovals: stopped.runId })).rejects.toMatchObject({
      code: 'ConfirmationOutdated',
      details: { runId: again.runId },
    });

    // A review older than a day has expired.
    await h.svc.runs.updateRun(exp.id, again.runId, (r) => ({
      ...r,
      finishedAt: new Date(Date.now() - 25 * 3_600_000).toISOString(),
    }));
    await expect(startManualRun(h.svc, adminCaller, exp.id, { confirmRemovals: again.runId })).rejects.toMatchObject({
      code: 'ConfirmationExpired',
    });
    await h.svc.runs.updateRun(exp.id, again.runId, (r) => ({ ...r, finishedAt: new Date().toISOString() }));

    // The new numbers, confirmed, are exactly what is made.
    const made = await finished(
      (await startManualRun(h.svc, adminCaller, exp.id, { confirmRemovals: again.runId })).runId,
    );
    expect(made.status).toBe('completed');
    expect(made.counts).toMatchObject({ read: 3, unchanged: 3, unsubscribed: 997 });
    expect(h.emulator.listMembers(listId - 1)).toHaveLength(3);
  });

  it('takes a Customer Insights time folder only once its files are quiet, and a CDM folder only when every partition exists', async () => {
    const quiet = createServices(readConfig({ ...h.env, SNAPSHOT_QUIET_SECONDS: '3' }));
    const base = 'ci/CustomerInsights_x/dest/Vip';
    await uploadText(h.blobs, 'safety', `${base}/2026/01/01/0100/Vip_1.csv`, csv(emails('t', 0, 300)));
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'ci',
      connectionId,
      listId: ++listId,
      mode: 'mirror',
      source: { container: 'safety', path: base },
      mapping: { email: 'email' },
    });
    const skipped = (await refreshExports(quiet)).skipped.find((s) => s.exportId === exp.id)!;
    expect(skipped.reason).toMatch(
      /^no complete snapshot: The newest snapshot \(1 file\(s\)\) may still be being written/,
    );
    const refused = await startManualRun(quiet, adminCaller, exp.id, {}).catch((e) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused.code).toBe('SnapshotNotReady');
    expect(refused.details.retryAfterSeconds).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3_200));
    const started = (await refreshExports(quiet)).started.find((s) => s.exportId === exp.id);
    expect(started).toBeDefined();

    // model.json names two partitions; the second is not written yet.
    const model = (parts: string[]) =>
      JSON.stringify({
        entities: [
          {
            name: 'Vip',
            attributes: [{ name: 'email' }],
            partitions: parts.map((p) => ({
              location: `https://acct.blob.core.windows.net/safety/cdm/${p}`,
              fileFormatSettings: { columnHeaders: true },
            })),
          },
        ],
      });
    await uploadText(h.blobs, 'safety', 'cdm/part1.csv', csv(emails('m', 0, 10)));
    await uploadText(h.blobs, 'safety', 'cdm/model.json', model(['part1.csv', 'part2.csv']));
    const cdm = await createExport(h.svc, adminCaller, {
      displayName: 'cdm',
      connectionId,
      listId: ++listId,
      source: { container: 'safety', path: 'cdm' },
      mapping: { email: 'email' },
    });
    expect((await refreshExports(h.svc)).skipped.find((s) => s.exportId === cdm.id)!.reason).toMatch(
      /names the partition safety\/cdm\/part2.csv, which does not exist \(yet\)/,
    );
    expect(((await startManualRun(h.svc, adminCaller, cdm.id, {}).catch((e) => e)) as ConflictError).code).toBe(
      'SnapshotNotReady',
    );
  });

  it('re-subscribes a contact this export unsubscribed when it comes back, but not one that left the list on its own since', async () => {
    const exp = await newExport('back', 'mirror', csv(emails('b', 0, 10)), { removalGuardPercent: 100 });
    await runToEnd(h, exp);
    await uploadText(h.blobs, 'safety', 'back/segment.csv', csv(emails('b', 0, 8)));
    const leaving = await runToEnd(h, exp);
    expect(leaving.counts.unsubscribed).toBe(2);
    expect(h.emulator.contacts.get('b8@example.com')!.lists[String(listId)]).toBe(2);
    // b9 joins again (a form) and leaves on its own, later than this export unsubscribed it.
    h.emulator.contacts.get('b9@example.com')!.lists[String(listId)] = 1;
    h.emulator.unsubscribeByContact('b9@example.com', listId, Date.now() + 11 * 60_000);
    await uploadText(h.blobs, 'safety', 'back/segment.csv', csv(emails('b', 0, 10)));
    const back = await runToEnd(h, exp);
    expect(back.status).toBe('completedWithErrors');
    expect(back.counts).toEqual(
      counts({ read: 10, rejected: 1, duplicate: 0, unchanged: 8, upserted: 1, unsubscribed: 0, failed: 0 }),
    );
    expect(h.emulator.contacts.get('b8@example.com')!.lists[String(listId)]).toBe(1);
    expect(h.emulator.contacts.get('b9@example.com')!.lists[String(listId)]).toBe(2);
    const rows = await h.svc.runFiles.readText(back.rejectedRows!);
    expect(rows).toContain(
      'b9@example.com,not re-subscribed: the contact left the list on its own after this export had unsubscribed it',
    );
    // The next run is quiet: b8 is subscribed and known, b9's own unsubscribe stands.
    const after = await runToEnd(h, exp);
    expect(after.counts).toMatchObject({ unchanged: 10, upserted: 0, rejected: 0 });
  });

  it('never leaves an export on a deleted connection when both happen at once, and refuses exactly one of the two, truthfully', async () => {
    await uploadText(h.blobs, 'safety', 'race/segment.csv', csv(emails('r', 0, 3)));
    for (const offset of [0, 100, 250, 400, 550, 700, 850]) {
      const extra = await connectToEmulator(h);
      h.emulator.faults = { delayInMs: 400 };
      const [created, deleted] = await Promise.allSettled([
        createExport(h.svc, adminCaller, {
          displayName: `race ${offset}`,
          connectionId: extra,
          listId: 101,
          source: { container: 'safety', path: 'race/segment.csv' },
          mapping: { email: 'email' },
        }),
        new Promise((r) => setTimeout(r, offset)).then(() => deleteConnection(h.svc, adminCaller, extra)),
      ]);
      h.emulator.faults = {};
      // Both refused would say a live connection "was deleted" (or an empty one "is in use").
      expect(
        [created.status, deleted.status].filter((s) => s === 'rejected'),
        `offset ${offset}`,
      ).toHaveLength(1);
      const alive = (await h.svc.connections.get(extra)) !== undefined;
      if (created.status === 'rejected') expect(alive, `offset ${offset}: ${created.reason}`).toBe(false);
      else expect((deleted as PromiseRejectedResult).reason.code).toBe('ConnectionInUse');
      const connections = new Set((await h.svc.connections.list()).map((c) => c.id));
      for (const e of await h.svc.exports.list())
        expect(connections.has(e.connectionId), `export ${e.displayName} on a deleted connection`).toBe(true);
      if (created.status === 'fulfilled') await deleteExport(h.svc, adminCaller, created.value.id);
    }
    // The export is written while the delete, which has marked the connection, is still counting its
    // exports (slowly here): the export is kept, the delete refused (both used to be refused).
    const extra = await connectToEmulator(h);
    const slowCount = new Proxy(h.svc.exports, {
      get: (target, key) =>
        key === 'list'
          ? async () => (await new Promise((r) => setTimeout(r, 1_500)), target.list())
          : Reflect.get(target, key, target),
    });
    h.emulator.faults = { delayInMs: 400 };
    const [created, deleted] = await Promise.allSettled([
      createExport(h.svc, adminCaller, {
        displayName: 'race counted',
        connectionId: extra,
        listId: 101,
        source: { container: 'safety', path: 'race/segment.csv' },
        mapping: { email: 'email' },
      }),
      new Promise((r) => setTimeout(r, 100)).then(() =>
        deleteConnection({ ...h.svc, exports: slowCount }, adminCaller, extra),
      ),
    ]);
    h.emulator.faults = {};
    expect(created.status).toBe('fulfilled');
    expect((deleted as PromiseRejectedResult).reason.code).toBe('ConnectionInUse');
    expect(await h.svc.connections.get(extra)).toMatchObject({ id: extra });
  });

  it("reads only the containers SEGMENTS_CONTAINERS names, and never the app's own through a model.json", async () => {
    const limited = createServices(readConfig({ ...h.env, SEGMENTS_CONTAINERS: 'safety' }));
    await uploadText(h.blobs, 'elsewhere', 'seg.csv', csv(emails('e', 0, 2)));
    const refused = await createExport(limited, adminCaller, {
      displayName: 'x',
      connectionId,
      listId: 101,
      source: { container: 'elsewhere', path: 'seg.csv' },
      mapping: { email: 'email' },
    }).catch((e) => e);
    expect(refused.message).toMatch(
      /^source.container: the container "elsewhere" is not one of the segment containers this app may read \(SEGMENTS_CONTAINERS: safety\)/,
    );

    // A model.json in an allowed container naming a partition in the app's run files.
    const model = {
      entities: [
        {
          name: 'E',
          attributes: [{ name: 'email' }],
          partitions: [
            {
              location: `https://acct.blob.core.windows.net/export-runs/${runFileNames.rejected('0000000000000abcdef12')}`,
            },
          ],
        },
      ],
    };
    await uploadText(h.blobs, 'safety', 'sneaky/model.json', JSON.stringify(model));
    const exp = await createExport(h.svc, adminCaller, {
      displayName: 'sneaky',
      connectionId,
      listId: ++listId,
      source: { container: 'safety', path: 'sneaky' },
      mapping: { email: 'email' },
    });
    const run = await runToEnd(h, exp, { dryRun: true });
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/export-runs\/runs\/.*: the container "export-runs" belongs to the app/);
  });

  it('shows counts while planning, and fails a snapshot with more rows than SNAPSHOT_MAX_ROWS before sending', async () => {
    const many = await newExport('many', 'upsert', csv(emails('p', 0, MAX_ROWS)));
    const started = await startManualRun(h.svc, adminCaller, many.id, { dryRun: true });
    const seen = await waitFor(
      'counts while planning',
      async () => {
        const r = await h.svc.runs.getRun(many.id, started.runId);
        return r?.status === 'planning' && r.counts.read > 0 ? r.counts.read : r?.finishedAt ? -1 : undefined;
      },
      60_000,
      50,
    );
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(MAX_ROWS);
    const planned = await waitFor(
      'the dry run',
      async () => {
        const r = await h.svc.runs.getRun(many.id, started.runId);
        return r?.finishedAt ? r : undefined;
      },
      60_000,
    );
    expect(planned.counts).toEqual(counts({ read: MAX_ROWS, wouldUpsert: MAX_ROWS }));

    await uploadText(h.blobs, 'safety', 'many/segment.csv', csv(emails('p', 0, MAX_ROWS + 1)));
    const importsBefore = h.emulator.acceptedImports;
    const over = await runToEnd(h, many);
    expect(over.status).toBe('failed');
    expect(over.error).toBe(
      `The snapshot has more than ${MAX_ROWS} rows, the most an export may have (SNAPSHOT_MAX_ROWS); nothing was sent`,
    );
    // Nothing was sent, so nothing failed: the rows read count as not sent (no failed-contacts alert).
    expect(over.counts).toEqual(counts({ read: MAX_ROWS + 1, notSent: MAX_ROWS + 1 }));
    expect(h.emulator.acceptedImports).toBe(importsBefore);
  });

  it('deletes batch payloads when the run ends and keeps the rejected rows and the changed contacts', async () => {
    const exp = await newExport('clean', 'upsert', csv([...emails('c', 0, 600), 'broken']));
    const run = await runToEnd(h, exp);
    expect(run.status).toBe('completedWithErrors');
    const container = await h.svc.runFiles.ready();
    const left: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: runFileNames.runPrefix(run.runId) }))
      left.push(b.name.slice(runFileNames.runPrefix(run.runId).length));
    expect(left.sort()).toEqual(['changes.csv', 'rejected.csv']);
  });
});
