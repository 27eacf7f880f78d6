import type { Export, SegmentSource } from '../model.js';
import { containerProblem } from '../segments/sourcePolicy.js';
import type { EngineDeps } from './ports.js';
import { CHECK_DELAY_IN_MS, scheduleCheck } from './checkSchedule.js';
import type { SnapshotCheckMessage } from './runQueues.js';

export { CHECK_DELAY_IN_MS } from './checkSchedule.js';
import { refreshExport, type RefreshDeps } from './scheduledRefresh.js';

/**
 * New snapshots are noticed when they land. Each blob-created event of the segments storage
 * (Event Grid, or the local runner's copy of it) is matched against the exports' sources; an export
 * it concerns gets one check, due a moment later, however many events follow (a partitioned
 * snapshot writes many blobs). The check makes the scheduled refresh's decision for that export
 * alone: a run starts once the snapshot is complete, and a folder still within its quiet period
 * gets a check for the moment it ends. Events are hints: a duplicate, late or out-of-order event
 * costs one look, never a second run (the refresh rule exports a snapshot once), and a lost one
 * is found by the next scheduled tick.
 */

/** While another run of the export is active, its check looks again this often (it may be of an older snapshot). */
export const ACTIVE_RUN_RECHECK_IN_MS = 30_000;
/** How long a process matches events against the export list it read (a flood of events reads it once). */
const EXPORTS_CACHE_IN_MS = 10_000;
/**
 * An event that matches no export is matched again against a fresh list (the export may be newer than the list),
 * unless the list was read after the blob landed; at most this often, so that a flood of blobs no export reads
 * costs a few reads a second.
 */
const EXPORTS_RELOAD_ON_MISS_IN_MS = 250;

export type SegmentEventDeps = RefreshDeps & Pick<EngineDeps, 'snapshotChecks' | 'exports' | 'queues' | 'config'>;

/** What the app reads of a BlobCreated event (Event Grid schema). */
export interface BlobCreated {
  container: string;
  name: string;
  eventTime: string;
}

const SUBJECT = /^\/blobServices\/default\/containers\/([^/]+)\/blobs\/(.+)$/;

/** A BlobCreated event of a storage account, or undefined for anything else (never throws). */
export function readBlobCreated(value: unknown): BlobCreated | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const event = value as Record<string, unknown>;
  if (event.eventType !== 'Microsoft.Storage.BlobCreated' || typeof event.subject !== 'string') return undefined;
  const m = SUBJECT.exec(event.subject);
  if (!m) return undefined;
  const at = typeof event.eventTime === 'string' && Number.isFinite(Date.parse(event.eventTime)) ? event.eventTime : '';
  return { container: m[1], name: m[2], eventTime: at || new Date().toISOString() };
}

/**
 * Whether a blob is part of what an export reads: its file, a blob under its folder, or (a Common
 * Data Model folder named by its model.json) a blob under that folder.
 */
export function sourceCovers(source: SegmentSource, blob: Pick<BlobCreated, 'container' | 'name'>): boolean {
  if (source.container !== blob.container) return false;
  const path = source.path.replace(/^\/+|\/+$/g, '');
  const folder = path.replace(/(^|\/)model\.json$/i, '');
  return folder === '' || blob.name === path || blob.name.startsWith(`${folder}/`);
}

export type EventOutcome = 'ignored' | 'unmatched' | 'coalesced' | 'scheduled';

const exportsCache = new WeakMap<object, { readAt: number; list: Export[] }>();

/** The refresh exports whose source covers the blob. */
async function exportsConcerned(deps: Pick<EngineDeps, 'exports'>, event: BlobCreated): Promise<Export[]> {
  const now = Date.now();
  const read = async () => {
    const list = (await deps.exports.list()).filter((e) => e.schedule === 'refresh');
    exportsCache.set(deps.exports, { readAt: now, list });
    return list;
  };
  const cached = exportsCache.get(deps.exports);
  const list = cached && cached.readAt > now - EXPORTS_CACHE_IN_MS ? cached.list : await read();
  const concerned = list.filter((e) => sourceCovers(e.source, event));
  if (concerned.length > 0 || !cached || list !== cached.list) return concerned;
  const readAfterTheBlob = cached.readAt >= Date.parse(event.eventTime);
  if (readAfterTheBlob || cached.readAt > now - EXPORTS_RELOAD_ON_MISS_IN_MS) return concerned;
  return (await read()).filter((e) => sourceCovers(e.source, event));
}

/** The handler of `segment-events`: one BlobCreated event. */
export async function onSegmentEvent(
  deps: Pick<EngineDeps, 'snapshotChecks' | 'exports' | 'queues' | 'config'>,
  raw: unknown,
  log: (m: string) => void = () => {},
): Promise<EventOutcome> {
  const event = readBlobCreated(raw);
  if (!event) {
    log(
      `A message on segment-events is not a BlobCreated event and was dropped: ${JSON.stringify(raw)?.slice(0, 200)}`,
    );
    return 'ignored';
  }
  if (containerProblem(event.container, deps.config.segmentsContainers)) return 'ignored';
  const concerned = await exportsConcerned(deps, event);
  if (concerned.length === 0) return 'unmatched';
  let outcome: EventOutcome = 'coalesced';
  for (const exp of concerned)
    if (await scheduleCheck(deps, exp.id, event, CHECK_DELAY_IN_MS)) {
      outcome = 'scheduled';
      log(`Blob ${event.container}/${event.name} landed: export ${exp.id} is checked in ${CHECK_DELAY_IN_MS} ms`);
    }
  return outcome;
}

export type CheckOutcome = 'started' | 'skipped' | 'waiting' | 'superseded';

/**
 * The handler of `export-checks`: the export's check begins (a later event schedules a new one),
 * then the refresh decides for this export. A snapshot still being written gets a check for when
 * it may be complete; an active run, one for a little later.
 */
export async function checkSnapshot(
  deps: SegmentEventDeps,
  message: SnapshotCheckMessage,
  log: (m: string) => void = () => {},
): Promise<CheckOutcome> {
  const { exportId, checkId } = message;
  const { changed } = await deps.snapshotChecks.update(exportId, (r) =>
    r.checkId !== checkId ? undefined : { ...r, checkId: undefined, dueAt: undefined },
  );
  if (!changed) return 'superseded';
  const exp = await deps.exports.get(exportId);
  if (!exp || exp.schedule !== 'refresh') return 'skipped';
  const outcome = await refreshExport(deps, exp);
  if ('runId' in outcome) {
    log(`A new snapshot of export ${exportId} landed: run ${outcome.runId} started`);
    return 'started';
  }
  const again = outcome.active ? ACTIVE_RUN_RECHECK_IN_MS : outcome.retryAfterInMs;
  if (again === undefined) return 'skipped';
  await scheduleCheck(deps, exportId, undefined, again);
  log(`Export ${exportId} not refreshed yet (${outcome.reason}); checked again in ${Math.round(again / 1000)} s`);
  return 'waiting';
}
