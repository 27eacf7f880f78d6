import { createInterface } from 'node:readline';
import type { Principal } from '../auth/principal.js';
import { isAdmin } from '../auth/principal.js';
import { recordAudit } from '../audit/auditLog.js';
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError } from '../errors.js';
import { TERMINAL_STATUSES, type Export, type RemovalConfirmation, type Run } from '../model.js';
import { endRun, startRun } from '../runs/runLifecycle.js';
import { SnapshotNotReadyError } from '../segments/segmentError.js';
import { locateSnapshot } from '../segments/snapshot.js';
import type { AppServices } from '../services.js';
import {
  ExportBeingEditedError,
  isRunId,
  publicRun,
  RunActiveError,
  type BatchState,
  type RunRecord,
} from '../runs/runModel.js';
import { isTablePageToken } from '../store/runStore.js';
import { csvField, parseChangeLine } from '../store/runFiles.js';
import { changeOutcome } from '../runs/runChanges.js';
import { CONFIRMATION_TTL_IN_MS } from '../sync/removalGuard.js';
import type { StartRunInput } from './exportSchema.js';
import { getExport, type ExportDeps } from './exportService.js';

type RunDeps = Pick<
  AppServices,
  | 'exports'
  | 'connections'
  | 'runs'
  | 'runFiles'
  | 'exportState'
  | 'queues'
  | 'telemetry'
  | 'config'
  | 'snapshotChecks'
  | 'runEvents'
  | 'audit'
>;

/**
 * Starts a run on demand (202: planning happens on the queue). A snapshot still being written is
 * refused with the reason and when to try again, rather than exported half-written. A run that
 * confirms removals names the run the guard stopped; only an administrator may start it, only for
 * the export's last run, within a day of it.
 */
export async function startManualRun(
  deps: ExportDeps,
  principal: Principal,
  id: string,
  input: StartRunInput,
): Promise<Run> {
  const { exp } = await getExport(deps, principal, id);
  const confirmation =
    input.confirmRemovals === undefined
      ? undefined
      : await confirmationOf(deps, principal, exp, input.confirmRemovals, input);
  try {
    await locateSnapshot(deps.segments.blobs, exp.source, {
      allowedContainers: deps.config.segmentsContainers,
      quietPeriodInMs: deps.config.snapshotQuietPeriodInMs,
    });
  } catch (error) {
    if (error instanceof SnapshotNotReadyError) {
      throw new ConflictError('SnapshotNotReady', `${error.message}`, {
        retryAfterSeconds: Math.ceil(error.retryAfterInMs / 1000),
      });
    }
    // Other problems (no such folder, an empty snapshot) are the run's to report: it fails with them.
  }
  try {
    const run = await startRun(deps, exp, {
      trigger: 'manual',
      dryRun: input.dryRun,
      fullSync: input.fullSync,
      confirmation,
    });
    await recordAudit(
      deps,
      principal,
      confirmation ? 'run.confirmedRemovals' : 'run.started',
      { type: 'run', id: run.runId, name: exp.displayName },
      {
        exportId: exp.id,
        ...(run.dryRun ? { dryRun: true } : {}),
        ...(run.fullSync ? { fullSync: true } : {}),
        ...(confirmation
          ? { confirms: confirmation.runId, unsubscribes: confirmation.unsubscribes, lastSent: confirmation.lastSent }
          : {}),
      },
    );
    return publicRun(run);
  } catch (error) {
    if (error instanceof RunActiveError)
      throw new ConflictError('RunActive', `Export ${id} already has an active run (${error.runId})`, {
        runId: error.runId,
      });
    if (error instanceof ExportBeingEditedError)
      throw new ConflictError(
        'ExportBeingEdited',
        `Export ${id} is being edited right now: start the run once the edit is saved (a moment)`,
      );
    throw error;
  }
}

/**
 * What `confirmRemovals` confirms: the snapshot and the numbers of the run the guard stopped, which
 * must be the export's last run (dry runs aside) and at most a day old. The run it starts
 * unsubscribes only if it finds exactly those; otherwise it stops again with the new numbers.
 */
async function confirmationOf(
  deps: RunDeps,
  principal: Principal,
  exp: Export,
  runId: string,
  input: StartRunInput,
): Promise<RemovalConfirmation> {
  if (!isAdmin(principal))
    throw new ForbiddenError('Forbidden', 'confirmRemovals: only administrators may confirm removals');
  if (input.dryRun)
    throw new InvalidRequestError(
      'InvalidRequest',
      'confirmRemovals: a dry run sends nothing, so there is nothing to confirm',
    );
  const guarded = isRunId(runId) ? await deps.runs.getRun(exp.id, runId) : undefined;
  if (!guarded)
    throw new InvalidRequestError('InvalidRequest', `confirmRemovals: export ${exp.id} has no run ${runId}`);
  if (
    guarded.dryRun ||
    guarded.status !== 'failed' ||
    !guarded.removals?.exceeded ||
    guarded.removals.confirmed ||
    !guarded.snapshot
  ) {
    throw new InvalidRequestError(
      'InvalidRequest',
      `confirmRemovals: run ${runId} was not stopped by the removal guard; there is nothing of it to confirm`,
    );
  }
  const { runs } = await deps.runs.listRuns(exp.id, { top: 20 });
  const last = runs.find((r) => !r.dryRun);
  if (last && last.runId !== runId) {
    throw new ConflictError(
      'ConfirmationOutdated',
      `Run ${runId} is no longer the export's last run (run ${last.runId} came after it): review and confirm what the last run showed`,
      { runId: last.runId },
    );
  }
  const reviewedAt = Date.parse(guarded.finishedAt ?? guarded.startedAt);
  if (Date.now() - reviewedAt > CONFIRMATION_TTL_IN_MS) {
    throw new ConflictError(
      'ConfirmationExpired',
      `The removals run ${runId} showed are more than 24 hours old: start Run now (or a dry run) to see what the segment holds today, and confirm that`,
    );
  }
  return {
    runId,
    snapshotId: guarded.snapshot.id,
    unsubscribes: guarded.removals.unsubscribes,
    lastSent: guarded.removals.lastSent,
  };
}

async function findRun(deps: RunDeps, principal: Principal, exportId: string, runId: string): Promise<RunRecord> {
  await getExport(deps, principal, exportId);
  const run = isRunId(runId) ? await deps.runs.getRun(exportId, runId) : undefined;
  if (!run) throw new NotFoundError(`Run ${runId}`);
  return run;
}

export async function getRun(deps: RunDeps, principal: Principal, exportId: string, runId: string): Promise<Run> {
  return publicRun(await findRun(deps, principal, exportId, runId));
}

/** A page of the export's runs, newest first; `continuationToken` names the next page. */
export async function listRuns(
  deps: RunDeps,
  principal: Principal,
  exportId: string,
  page: { top?: number; continuationToken?: string } = {},
): Promise<{ value: Run[]; continuationToken?: string }> {
  await getExport(deps, principal, exportId);
  const notOurs = () =>
    new InvalidRequestError(
      'InvalidRequest',
      "continuationToken: not a page of this export's runs (use the token the previous page gave, or leave it out for the newest runs)",
    );
  if (page.continuationToken !== undefined && !isTablePageToken(page.continuationToken)) throw notOurs();
  try {
    const { runs, continuationToken } = await deps.runs.listRuns(exportId, page);
    return { value: runs.map(publicRun), ...(continuationToken ? { continuationToken } : {}) };
  } catch (error) {
    // A token of the right shape with keys the storage service cannot read.
    if (page.continuationToken && (error as { statusCode?: number }).statusCode === 400) throw notOurs();
    throw error;
  }
}

/**
 * Cancels a run without deleting its export: nothing is sent after the answer (every worker reads
 * the run's status just before it posts), the counts add up at once, the export's state stays.
 */
export async function cancelRun(deps: RunDeps, principal: Principal, exportId: string, runId: string): Promise<Run> {
  const run = await findRun(deps, principal, exportId, runId);
  if (TERMINAL_STATUSES.has(run.status))
    throw new ConflictError('RunEnded', `Run ${runId} already ended (${run.status})`);
  const ended = await endRun(deps, exportId, runId, 'cancelled', `Cancelled by ${principal.name}`);
  const exp = await deps.exports.get(exportId);
  await recordAudit(
    deps,
    principal,
    'run.cancelled',
    { type: 'run', id: runId, name: exp?.displayName },
    { exportId, status: run.status },
  );
  return publicRun(ended ?? run);
}

/** The run's rejected rows (CSV), streamed; 404 when it has none (or they are past RUN_RETENTION_DAYS). */
export async function rejectedRows(
  deps: RunDeps,
  principal: Principal,
  exportId: string,
  runId: string,
): Promise<{ body: NodeJS.ReadableStream; contentLength?: number; fileName: string }> {
  const run = await findRun(deps, principal, exportId, runId);
  if (!run.rejectedRows) throw new NotFoundError(`Rejected rows of run ${runId}`);
  const file = await deps.runFiles.download(run.rejectedRows.replace(/^[^/]+\//, ''));
  if (!file) throw new NotFoundError(`Rejected rows of run ${runId} (kept for RUN_RETENTION_DAYS days)`);
  return { ...file, fileName: `rejected-${runId}.csv` };
}

/** A dry run's sample of payloads (JSON); 404 when the run has none. */
export async function payloadSample(
  deps: RunDeps,
  principal: Principal,
  exportId: string,
  runId: string,
): Promise<unknown> {
  const run = await findRun(deps, principal, exportId, runId);
  const text = run.payloadSample ? await deps.runFiles.readText(run.payloadSample) : undefined;
  if (text === undefined) throw new NotFoundError(`Payload sample of run ${runId}`);
  return JSON.parse(text);
}

/**
 * The emails the run added, updated, unsubscribed or re-subscribed (CSV `email,change,outcome`),
 * streamed: the planner's list, with what became of each from its batch's end. 404 when the run
 * changed nobody, or its files are past RUN_RETENTION_DAYS.
 */
export async function runChanges(
  deps: RunDeps,
  principal: Principal,
  exportId: string,
  runId: string,
): Promise<{ body: AsyncIterable<string>; fileName: string }> {
  const run = await findRun(deps, principal, exportId, runId);
  if (!run.changes) throw new NotFoundError(`Changes of run ${runId} (it changed no contact)`);
  const file = await deps.runFiles.download(run.changes.replace(/^[^/]+\//, ''));
  if (!file) throw new NotFoundError(`Changes of run ${runId} (kept for RUN_RETENTION_DAYS days)`);
  const batches = new Map<number, BatchState>();
  for await (const b of deps.runs.listBatches(runId)) batches.set(b.batch, b);
  const state = { dryRun: run.dryRun, ended: TERMINAL_STATUSES.has(run.status) };
  let named = { batch: 0, failed: new Set<string>(), notInActiveCampaign: new Set<string>() };
  async function* lines(): AsyncGenerator<string> {
    yield 'email,change,outcome\n';
    let first = true;
    for await (const line of createInterface({ input: file!.body, crlfDelay: Infinity })) {
      if (first) {
        first = false;
        continue;
      }
      const row = parseChangeLine(line);
      if (!row) continue;
      const batch = batches.get(row.batch);
      if (named.batch !== row.batch) {
        const failed =
          batch && batch.failed + batch.rejected + batch.untagFailed > 0
            ? await deps.runFiles.readFailedEmails(runId, row.batch)
            : [];
        const notFound = batch?.notInActiveCampaign
          ? await deps.runFiles.readNotInActiveCampaign(runId, row.batch)
          : [];
        named = { batch: row.batch, failed: new Set(failed), notInActiveCampaign: new Set(notFound) };
      }
      yield `${csvField(row.email)},${row.change},${changeOutcome(state, batch, named, row.email)}\n`;
    }
  }
  return { body: lines(), fileName: `changes-${runId}.csv` };
}
