import { randomUUID } from 'node:crypto';
import type { EngineDeps } from './ports.js';

/**
 * When each export's snapshot is checked next: one check on its way per export (its id and due time in the
 * export's snapshot-check entity), which absorbs the blob events that come before it. Blob events schedule checks
 * (segmentEvents.ts), a check that must wait schedules the next, and a run's end brings a waiting check forward.
 */

/** A check waits this long after the event that set it off, so that the blobs written together come with it. */
export const CHECK_DELAY_IN_MS = 1_000;
/** A check this long overdue was lost (its message poisoned): the next event schedules another. */
const LOST_CHECK_AFTER_IN_MS = 10 * 60_000;
/**
 * When the check on its way to each export is due, as this process knows it: until then an event is
 * absorbed without a storage call (a flood costs one). A check message is never delivered before it
 * is due, so it sees every blob of the events absorbed before then.
 */
const scheduledHere = new WeakMap<object, Map<string, number>>();

/**
 * Schedules a check of the export unless one is on its way (then the event is absorbed by it).
 * Returns whether this scheduled one.
 */
export async function scheduleCheck(
  deps: Pick<EngineDeps, 'snapshotChecks' | 'queues'>,
  exportId: string,
  event: { container: string; name: string; eventTime: string } | undefined,
  delayInMs: number,
): Promise<boolean> {
  const here = scheduledHere.get(deps.snapshotChecks) ?? new Map<string, number>();
  scheduledHere.set(deps.snapshotChecks, here);
  const now = Date.now();
  if (event && (here.get(exportId) ?? 0) > now) return false;
  const checkId = randomUUID();
  const dueAt = now + delayInMs;
  const { changed, record } = await deps.snapshotChecks.update(exportId, (r) => {
    // A check on its way (not yet begun) sees every blob written before it begins; one long overdue was lost.
    // One due later than this (a snapshot waited for, a run waited out) is brought forward: a blob just landed.
    const pending = r.checkId !== undefined && (r.dueAt ?? 0) > now - LOST_CHECK_AFTER_IN_MS;
    if (pending && (r.dueAt ?? 0) <= dueAt) return undefined;
    return {
      ...r,
      checkId,
      dueAt,
      ...(event ? { lastEventAt: event.eventTime, lastEventBlob: `${event.container}/${event.name}` } : {}),
    };
  });
  if (!changed) {
    // Its message is not delivered before it is due: until then, every event here is absorbed by it.
    if (event) here.set(exportId, record.dueAt ?? now);
    return false;
  }
  await deps.queues.snapshotCheck({ exportId, checkId }, delayInMs);
  if (event) here.set(exportId, dueAt);
  return true;
}

/**
 * A run of the export ended: a check that waits for it (a snapshot landed while it ran) is brought forward, so the
 * newer snapshot starts its run now instead of at the check's next look.
 */
export async function checkWaitingSnapshot(deps: Pick<EngineDeps, 'snapshotChecks' | 'queues'>, exportId: string) {
  const record = await deps.snapshotChecks.get(exportId);
  if (!record?.checkId || (record.dueAt ?? 0) <= Date.now() + CHECK_DELAY_IN_MS) return;
  await scheduleCheck(deps, exportId, undefined, CHECK_DELAY_IN_MS);
}
