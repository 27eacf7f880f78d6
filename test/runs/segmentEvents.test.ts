import { beforeEach, describe, expect, it } from 'vitest';
import type { Export, SegmentSource } from '../../shared/model.js';
import { SEGMENT_QUEUES, type SnapshotCheckMessage } from '../../shared/runs/runQueues.js';
import {
  CHECK_DELAY_IN_MS,
  checkSnapshot,
  onSegmentEvent,
  readBlobCreated,
  sourceCovers,
} from '../../shared/runs/segmentEvents.js';
import { blobCreatedEvent } from '../../tools/localRunner/blobEvents.js';
import { memoryEngine, type MemoryEngine } from '../support/memoryPorts.js';

/**
 * Blob events against the engine's ports in memory: which events concern which export, and how a
 * flood is coalesced into one check. The checks themselves read real segment files: the end-to-end
 * test (e2e/segmentEvents.test.ts) runs them against Azurite and the local runner's events.
 */

const blobs = { url: 'http://127.0.0.1:10000/devstoreaccount1', accountName: 'devstoreaccount1' } as never;
const event = (container: string, name: string) =>
  blobCreatedEvent(blobs, container, name, { etag: '"0x1"', contentLength: 10, contentType: 'text/csv' });

const exportOf = (id: string, source: SegmentSource, schedule: Export['schedule'] = 'refresh'): Export => ({
  id,
  displayName: id,
  connectionId: 'c1',
  listId: 1,
  source,
  mapping: { email: 'email' },
  mode: 'upsert',
  schedule,
  tags: [],
  runAutomations: false,
  removeTagsWhenLeaving: false,
  removalGuardPercent: 10,
  fieldTypes: {},
  createdAt: '2026-01-01T00:00:00Z',
  createdBy: 'admin@example.com',
});

describe('blob-created events', () => {
  it('are read from the Event Grid schema, and anything else is not one', () => {
    expect(readBlobCreated(event('customerinsights', 'vip/2026/12/02/1200/vip_1.csv'))).toMatchObject({
      container: 'customerinsights',
      name: 'vip/2026/12/02/1200/vip_1.csv',
      eventTime: expect.any(String),
    });
    expect(readBlobCreated({ ...event('c', 'a.csv'), eventType: 'Microsoft.Storage.BlobDeleted' })).toBeUndefined();
    expect(readBlobCreated({ ...event('c', 'a.csv'), subject: '/blobServices/default/containers/c' })).toBeUndefined();
    for (const nonsense of [null, 'text', [event('c', 'a.csv')], { eventType: 'Microsoft.Storage.BlobCreated' }])
      expect(readBlobCreated(nonsense)).toBeUndefined();
  });

  it.each([
    [{ container: 'ci', path: 'vip' }, 'ci', 'vip/2026/12/02/1200/vip_1.csv', true],
    [{ container: 'ci', path: 'vip' }, 'ci', 'vipers/a.csv', false],
    [{ container: 'ci', path: 'vip' }, 'other', 'vip/a.csv', false],
    [{ container: 'ci', path: 'cdm/model.json' }, 'ci', 'cdm/model.json', true],
    [{ container: 'ci', path: 'cdm/model.json' }, 'ci', 'cdm/Vip/part-1.csv', true],
    [{ container: 'ci', path: 'cdm' }, 'ci', 'cdm/model.json', true],
    [{ container: 'ci', path: 'seg.csv' }, 'ci', 'seg.csv', true],
    [{ container: 'ci', path: 'seg.csv' }, 'ci', 'seg.csv.tmp', false],
    [{ container: 'ci', path: '' }, 'ci', 'anything/at/all.csv', true],
  ])('%o covers %s/%s: %s', (source, container, name, covered) => {
    expect(sourceCovers(source, { container, name })).toBe(covered);
  });
});

describe('the segment-events handler', () => {
  let engine: MemoryEngine;
  beforeEach(() => {
    engine = memoryEngine();
    engine.exports.records.set('e1', exportOf('e1', { container: 'customerinsights', path: 'vip' }));
    engine.exports.records.set('e2', exportOf('e2', { container: 'customerinsights', path: 'churn' }));
    engine.exports.records.set('m1', exportOf('m1', { container: 'customerinsights', path: 'vip' }, 'manual'));
  });
  const checks = () => engine.queues.take<SnapshotCheckMessage>(SEGMENT_QUEUES.checks);

  it('costs an event that concerns no export nothing but the look (no storage write, no message)', async () => {
    expect(await onSegmentEvent(engine, event('customerinsights', 'other/a.csv'))).toBe('unmatched');
    expect(await onSegmentEvent(engine, event('export-runs', 'runs/x/rejected.csv'))).toBe('ignored');
    expect(await onSegmentEvent(engine, { hello: 'world' })).toBe('ignored');
    expect(engine.snapshotChecks.writes).toBe(0);
    expect(engine.queues.sent).toEqual([]);
  });

  it('matches an event against an export newer than the list it read', async () => {
    expect(await onSegmentEvent(engine, event('customerinsights', 'fresh/a.csv'))).toBe('unmatched');
    engine.exports.records.set('f1', exportOf('f1', { container: 'customerinsights', path: 'fresh' }));
    await new Promise((r) => setTimeout(r, 300));
    expect(await onSegmentEvent(engine, event('customerinsights', 'fresh/b.csv'))).toBe('scheduled');
    expect(checks()[0].message.exportId).toBe('f1');
  });

  it('gives the exports an event concerns one check each, a moment later; an on-demand export none', async () => {
    expect(await onSegmentEvent(engine, event('customerinsights', 'vip/2026/12/02/1200/vip_1.csv'))).toBe('scheduled');
    const [check] = checks();
    expect(check).toMatchObject({ delayInMs: CHECK_DELAY_IN_MS, message: { exportId: 'e1' } });
    expect(await engine.snapshotChecks.get('e1')).toMatchObject({
      checkId: check.message.checkId,
      lastEventBlob: 'customerinsights/vip/2026/12/02/1200/vip_1.csv',
    });
    expect(await engine.snapshotChecks.get('m1')).toBeUndefined();
  });

  it('coalesces a flood of 100,000 events into one check (one storage write)', async () => {
    for (let i = 0; i < 100_000; i++)
      await onSegmentEvent(engine, event('customerinsights', `vip/2026/12/02/1200/vip_${i}.csv`));
    expect(checks()).toHaveLength(1);
    expect(engine.snapshotChecks.writes).toBe(1);
  });

  it('absorbs a duplicate or late event in the check on its way, and schedules a new one once that check began', async () => {
    /** Another instance of the app: the same storage, its own memory. */
    const instance = () => ({
      ...engine,
      snapshotChecks: Object.create(engine.snapshotChecks) as typeof engine.snapshotChecks,
    });
    const first = event('customerinsights', 'vip/a.csv');
    await onSegmentEvent(engine, first);
    await onSegmentEvent(engine, first); // Event Grid delivers at least once
    const [check] = checks();
    expect(checks()).toEqual([]);
    // Another instance, which did not schedule it, sees it on its way in storage.
    expect(await onSegmentEvent(instance(), event('customerinsights', 'vip/b.csv'))).toBe('coalesced');
    // The check begins (its export turned on-demand meanwhile, so it only clears its record): a later event is not
    // absorbed.
    engine.exports.records.set('e1', { ...engine.exports.records.get('e1')!, schedule: 'manual' });
    expect(await checkSnapshot(instance(), check.message)).toBe('skipped');
    expect(await onSegmentEvent(instance(), event('customerinsights', 'vip/c.csv'))).toBe('scheduled');
    // A superseded check message (a copy, or one whose record moved on) does nothing.
    expect(await checkSnapshot(instance(), check.message)).toBe('superseded');
  });

  it('brings a check that waits for a snapshot forward when a blob of it lands', async () => {
    // The check found model.json naming a partition not written yet, and looks again in a minute.
    const waiting = { exportId: 'e1', checkId: 'in-a-minute', dueAt: Date.now() + 60_000 };
    engine.snapshotChecks.records.set('e1', waiting);
    expect(await onSegmentEvent(engine, event('customerinsights', 'vip/part-1.csv'))).toBe('scheduled');
    const [check] = checks();
    expect(check.delayInMs).toBe(CHECK_DELAY_IN_MS);
    // The minute's check is superseded, and the next blobs are absorbed by the new one.
    expect(await onSegmentEvent(engine, event('customerinsights', 'vip/part-2.csv'))).toBe('coalesced');
    expect(checks()).toEqual([]);
    expect(await checkSnapshot(engine, { exportId: 'e1', checkId: 'in-a-minute' })).toBe('superseded');
  });
});
