import { recordAudit } from '../audit/auditLog.js';
import { CronExpressionParser } from 'cron-parser';
import { TERMINAL_STATUSES, type Export, type RefreshOutlook, type Run } from '../model.js';
import { SegmentError, SnapshotNotReadyError } from '../segments/segmentError.js';
import { locateSnapshot } from '../segments/snapshot.js';
import { FAILURE_LIMITS } from './failurePolicy.js';
import type { EngineDeps } from './ports.js';
import { rearmWatcher, startRun, type LifecycleDeps } from './runLifecycle.js';
import { ExportBeingEditedError, RunActiveError, type RunRecord } from './runModel.js';

export type RefreshDeps = LifecycleDeps & Pick<EngineDeps, 'exports' | 'segments' | 'snapshotChecks' | 'audit'>;

export interface RefreshResult {
  started: { exportId: string; runId: string }[];
  skipped: { exportId: string; reason: string }[];
  /** Active runs whose planner or watcher had gone silent and were given a new message. */
  rearmed: { exportId: string; runId: string; what: 'planner' | 'watcher' }[];
  /** Runs whose files were deleted for retention. */
  expiredRuns: number;
}

/** The most runs whose files one tick deletes (the next tick goes on). */
const MAX_EXPIRED_PER_TICK = 500;

const SUCCESSFUL = new Set(['completed', 'completedWithErrors']);

/**
 * One tick of the scheduled refresh: starts a run for each `refresh` export whose newest snapshot
 * is complete and differs from the one its last successful run exported; notices active runs of
 * any export that stalled (a planner or watcher that died with its message) and re-arms them; and
 * deletes run files older than RUN_RETENTION_DAYS. The run lease makes overlapping ticks (or a tick
 * and an on-demand start) harmless, and a missed tick is caught up by the next.
 */
export async function refreshExports(deps: RefreshDeps, log: (m: string) => void = () => {}): Promise<RefreshResult> {
  const result: RefreshResult = { started: [], skipped: [], rearmed: [], expiredRuns: 0 };
  for (const exp of await deps.exports.list()) {
    try {
      const active = await deps.runs.activeRunId(exp.id);
      if (active) {
        const run = await deps.runs.getRun(exp.id, active);
        const what = run && (await rearmIfStalled(deps, run, log));
        if (what) result.rearmed.push({ exportId: exp.id, runId: active, what });
        result.skipped.push({ exportId: exp.id, reason: `run ${active} is active` });
        continue;
      }
      if (exp.schedule !== 'refresh') continue;
      const outcome = await refreshExport(deps, exp);
      if ('runId' in outcome) {
        result.started.push({ exportId: exp.id, runId: outcome.runId });
        log(`Scheduled refresh started run ${outcome.runId} of export ${exp.id}`);
      } else result.skipped.push({ exportId: exp.id, reason: outcome.reason });
    } catch (error) {
      // One broken export must not stop the refresh of the others.
      log(`Scheduled refresh of export ${exp.id} failed: ${(error as Error).message}`);
      result.skipped.push({ exportId: exp.id, reason: (error as Error).message });
    }
  }
  try {
    const before = Date.now() - deps.config.runRetentionDays * 86_400_000;
    result.expiredRuns = await deps.runFiles.deleteRunsStartedBefore(before, MAX_EXPIRED_PER_TICK);
    if (result.expiredRuns > 0)
      log(`Deleted the files of ${result.expiredRuns} run(s) older than the retention period`);
  } catch (error) {
    log(`Deleting expired run files failed: ${(error as Error).message}`);
  }
  return result;
}

/** Why an export is not refreshed now; `retryAfterInMs` when its newest snapshot is still being written. */
export interface RefreshSkip {
  reason: string;
  retryAfterInMs?: number;
  /** Another run of the export is active (its end may leave a newer snapshot to export). */
  active?: boolean;
}

/**
 * Starts a run of a `refresh` export when its newest snapshot is complete and not exported yet:
 * the one decision of the scheduled refresh and of a blob event's check. The run lease makes two
 * at once harmless: one starts, the other finds the run active.
 */
export async function refreshExport(deps: RefreshDeps, exp: Export): Promise<{ runId: string } | RefreshSkip> {
  const skip = await whyNotRefresh(deps, exp);
  if (skip) return skip;
  try {
    const run = await startRun(deps, exp, { trigger: 'schedule' });
    await recordAudit(
      deps,
      'schedule',
      'run.started',
      { type: 'run', id: run.runId, name: exp.displayName },
      {
        exportId: exp.id,
        trigger: 'schedule',
      },
    );
    return { runId: run.runId };
  } catch (error) {
    if (error instanceof RunActiveError) return { reason: `run ${error.runId} is active`, active: true };
    if (error instanceof ExportBeingEditedError) return { reason: 'the export is being edited', active: true };
    throw error;
  }
}

async function whyNotRefresh(
  deps: Pick<RefreshDeps, 'runs' | 'segments' | 'config'>,
  exp: Export,
): Promise<RefreshSkip | undefined> {
  let snapshotId: string;
  try {
    snapshotId = (
      await locateSnapshot(deps.segments.blobs, exp.source, {
        allowedContainers: deps.config.segmentsContainers,
        quietPeriodInMs: deps.config.snapshotQuietPeriodInMs,
      })
    ).id;
  } catch (error) {
    // An incomplete snapshot is waited for: a check is due when it may be complete, and the next tick looks again.
    if (error instanceof SnapshotNotReadyError)
      return { reason: `no complete snapshot: ${error.message}`, retryAfterInMs: error.retryAfterInMs };
    if (error instanceof SegmentError) return { reason: `no complete snapshot: ${error.message}` };
    throw error;
  }
  const { runs } = await deps.runs.listRuns(exp.id, { top: 20 });
  const reason = refreshSkipReason(runs, snapshotId, exp.updatedAt ? Date.parse(exp.updatedAt) : undefined, Date.now());
  return reason ? { reason } : undefined;
}

/** The same decision a tick makes (`whyNotRefresh`), without starting anything. */
export async function refreshOutlook(
  deps: Pick<RefreshDeps, 'runs' | 'segments' | 'config' | 'snapshotChecks'>,
  exp: Export,
  now = new Date(),
): Promise<RefreshOutlook> {
  if (exp.schedule !== 'refresh') return { wouldRun: false, reason: 'on demand only' };
  let nextCheckAt: string | undefined;
  try {
    nextCheckAt =
      CronExpressionParser.parse(deps.config.refreshSchedule, { currentDate: now, tz: 'UTC' }).next().toISOString() ??
      undefined;
  } catch {
    // An expression cron-parser does not read still runs under the Functions host: only the time is unknown.
  }
  const active = await deps.runs.activeRunId(exp.id);
  const reason = active ? `run ${active} is active` : (await whyNotRefresh(deps, exp))?.reason;
  const check = await deps.snapshotChecks.get(exp.id);
  return {
    ...(nextCheckAt ? { nextCheckAt } : {}),
    wouldRun: !reason,
    ...(reason ? { reason } : {}),
    ...(check?.lastEventAt ? { lastEvent: { at: check.lastEventAt, blob: check.lastEventBlob ?? '' } } : {}),
  };
}

/** A snapshot whose runs failed is tried again after this, doubling with each failure, up to a day. */
export const FAILED_SNAPSHOT_RETRY_IN_MS = 15 * 60_000;
const MAX_FAILED_SNAPSHOT_RETRY_IN_MS = 24 * 3_600_000;

/**
 * Why the scheduled refresh leaves an export alone this tick (undefined: start a run). Pure: the
 * export's runs newest first, the newest complete snapshot's id, when the export was last edited.
 * - A snapshot a run exported is not exported again, unless the export was edited since that run
 *   started (an edited mapping, list or tags is applied by the next refresh).
 * - A snapshot a run stopped at the removal guard, or a run a person cancelled, waits for a person
 *   (confirm, Run now, an edit) or a new snapshot: repeating it would only stop again, and alert.
 * - A snapshot whose runs failed is tried again after 15 min, 30 min, 1 h … at most a day apart:
 *   a passing fault heals on its own, a broken file does not raise an alert every tick.
 * Dry runs do not count.
 */
export function refreshSkipReason(
  runs: readonly Pick<Run, 'runId' | 'status' | 'dryRun' | 'snapshot' | 'startedAt' | 'removals'>[],
  snapshotId: string,
  editedAt: number | undefined,
  now: number,
): string | undefined {
  let failures = 0;
  let lastFailureAt = 0;
  for (const run of runs) {
    if (run.dryRun || !TERMINAL_STATUSES.has(run.status)) continue;
    const startedAt = Date.parse(run.startedAt);
    if (run.snapshot?.id !== snapshotId || (editedAt !== undefined && editedAt > startedAt)) break;
    if (SUCCESSFUL.has(run.status)) return 'snapshot already exported';
    if (run.status === 'cancelled')
      return `run ${run.runId} on this snapshot was cancelled: waiting for a new snapshot, an edit of the export, or Run now`;
    if (run.removals?.exceeded && !run.removals.confirmed) {
      return `run ${run.runId} stopped at the removal guard on this snapshot: waiting for a person to confirm the removals, a new snapshot, or an edit of the export`;
    }
    failures++;
    lastFailureAt = Math.max(lastFailureAt, startedAt);
  }
  if (failures === 0) return undefined;
  const wait = Math.min(FAILED_SNAPSHOT_RETRY_IN_MS * 2 ** (failures - 1), MAX_FAILED_SNAPSHOT_RETRY_IN_MS);
  if (now - lastFailureAt >= wait) return undefined;
  return `${failures} run(s) failed on this snapshot; the next try is at ${new Date(lastFailureAt + wait).toISOString()}`;
}

/**
 * An active run whose planner or watcher went silent (its message lost: poisoned, or a worker that
 * died and a message the host never gave back) gets a new message. A planner resumes where its run
 * says it stopped; a watcher starts a new chain that supersedes the old one.
 */
export async function rearmIfStalled(
  deps: RefreshDeps,
  run: RunRecord,
  log: (m: string) => void,
): Promise<'planner' | 'watcher' | undefined> {
  const silentFor = Date.now() - Date.parse(run.lastProgressAt ?? run.startedAt);
  const { exportId, runId } = run;
  const planning =
    run.status === 'queued' ||
    run.status === 'planning' ||
    (run.status === 'sending' && run.plan && run.plan.enqueued < run.plan.messages);
  if (planning && silentFor > FAILURE_LIMITS.plannerSilentInMs) {
    log(
      `Run ${runId} of export ${exportId}: its planner has been silent for ${Math.round(silentFor / 1000)} s; planning message sent again`,
    );
    await deps.queues.plan({ exportId, runId });
    return 'planner';
  }
  if (run.status === 'sending' && silentFor > FAILURE_LIMITS.watcherSilentInMs) {
    if (!(await rearmWatcher(deps, exportId, runId, 0))) return undefined;
    log(
      `Run ${runId} of export ${exportId}: its watcher has been silent for ${Math.round(silentFor / 1000)} s; re-armed`,
    );
    return 'watcher';
  }
  return undefined;
}
