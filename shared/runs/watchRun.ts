import { TERMINAL_STATUSES } from '../model.js';
import { FAILURE_LIMITS } from './failurePolicy.js';
import type { EngineDeps } from './ports.js';
import { runCounts, sumBatches } from './runCounts.js';
import { collect, finalizeRun, type LifecycleDeps } from './runLifecycle.js';
import { TERMINAL_BATCH, type BatchState, type RunRecord } from './runModel.js';
import type { WatchMessage } from './runQueues.js';
import { batchesWaiting, enqueueBatches, messagesWanted, sendWindow } from './sendWindow.js';

/**
 * The run watcher, on its own queue: every poll interval it adds up the run's batches, shows the
 * live counts on the run, and finalizes it once every batch is terminal; then it looks again.
 * A message of a superseded watcher chain (the run names the current one) does nothing.
 */
export async function watchRun(
  deps: LifecycleDeps,
  message: WatchMessage,
  log: (m: string) => void = () => {},
): Promise<void> {
  const { exportId, runId, watchId } = message;
  const run = await deps.runs.getRun(exportId, runId);
  if (!run || TERMINAL_STATUSES.has(run.status) || !run.plan || run.status !== 'sending') return;
  if (watchId && run.watchId && watchId !== run.watchId) return;
  const batches = await collect(deps.runs.listBatches(runId));
  const sums = sumBatches(batches);
  if (sums.terminal >= run.plan.batches) {
    await finalizeRun(deps, exportId, runId, { sums, batches });
    return;
  }
  // The next batches go on the queue as the ones before them are taken up (runs on one account share its budget).
  const wanted = messagesWanted(run.plan, sendWindow(deps.config), batchesWaiting(run.plan, batches));
  if (wanted > run.plan.enqueued && !(await enqueueBatches(deps, run, wanted))) return;
  const now = new Date().toISOString();
  const progressed = sums.terminal !== run.batches.done;
  const stalledSince = Date.parse(run.batchProgressAt ?? run.lastProgressAt ?? run.startedAt);
  const stalled = !progressed && Date.now() - stalledSince > FAILURE_LIMITS.batchesStalledInMs;
  const { run: current } = await deps.runs.updateRun(exportId, runId, (r) =>
    r.status !== 'sending' || !r.plan
      ? undefined
      : {
          ...r,
          counts: runCounts(r.plan, sums, false),
          batches: { total: r.plan.batches, done: sums.terminal },
          lastProgressAt: now,
          batchProgressAt: progressed || stalled ? now : r.batchProgressAt,
        },
  );
  if (stalled) await resendOpenBatches(deps, current, batches, log);
  await deps.queues.watch(message, deps.config.importPollIntervalInMs);
}

/**
 * Sends again the messages of the run's open batches (a lost or poisoned message must not hold the
 * run; each batch is claimed, so a copy is harmless): a batch message, or an import check for an
 * accepted import.
 */
async function resendOpenBatches(
  deps: Pick<EngineDeps, 'queues' | 'config'>,
  run: RunRecord,
  batches: BatchState[],
  log: (m: string) => void,
): Promise<number> {
  let sent = 0;
  for (const b of batches) {
    if (TERMINAL_BATCH.has(b.status)) continue;
    if (b.status === 'submitted' && b.importId)
      await deps.queues.importCheck(
        { exportId: run.exportId, runId: run.runId, batch: b.batch, importId: b.importId },
        0,
      );
    else await deps.queues.batches({ exportId: run.exportId, runId: run.runId, batch: b.batch });
    sent++;
  }
  if (sent > 0)
    log(
      `Run ${run.runId}: no batch finished for ${FAILURE_LIMITS.batchesStalledInMs / 60_000} minutes; ${sent} open batch(es) sent again`,
    );
  return sent;
}
