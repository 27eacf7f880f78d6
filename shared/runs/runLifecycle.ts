import { randomUUID } from 'node:crypto';
import { emptyCounts, TERMINAL_STATUSES, type Export, type Run, type RunCounts, type RunStatus } from '../model.js';
import type { AppServices } from '../services.js';
import { QUEUES } from '../store/workQueues.js';
import { TELEMETRY } from '../telemetry.js';
import type { PlanMessage } from './messages.js';
import { newRunId, TERMINAL_BATCH, type BatchState } from './runStore.js';

export interface StartRunOptions {
  trigger: Run['trigger'];
  dryRun?: boolean;
  fullSync?: boolean;
}

/**
 * Takes the export's lease, writes the run as `queued` and enqueues its plan message. Planning
 * itself happens on the queue, never inside an HTTP request. Throws RunActiveError (with the
 * active run's id) when the export already has an active run.
 */
export async function startRun(svc: AppServices, exp: Export, options: StartRunOptions): Promise<Run> {
  const run: Run = {
    runId: newRunId(),
    exportId: exp.id,
    trigger: options.trigger,
    status: 'queued',
    counts: emptyCounts(),
    startedAt: new Date().toISOString(),
    dryRun: Boolean(options.dryRun),
    fullSync: Boolean(options.fullSync),
    batches: { done: 0 },
  };
  await svc.runs.createRun(run);
  try {
    await svc.queues.send(QUEUES.plan, { exportId: exp.id, runId: run.runId } satisfies PlanMessage);
  } catch (error) {
    await failRun(svc, exp.id, run.runId, `Could not enqueue the run: ${(error as Error).message}`);
    throw error;
  }
  return run;
}

export async function failRun(svc: AppServices, exportId: string, runId: string, error: string): Promise<Run> {
  const { run, changed } = await svc.runs.updateRun(exportId, runId, (r) =>
    TERMINAL_STATUSES.has(r.status) ? undefined : { ...r, status: 'failed', error, finishedAt: new Date().toISOString() },
  );
  if (changed) reportRunFinished(svc, run);
  return run;
}

/** The custom event every run emits when it ends (Application Insights `customEvents`). */
export function reportRunFinished(svc: AppServices, run: Run): void {
  const durationMs = Date.parse(run.finishedAt ?? new Date().toISOString()) - Date.parse(run.startedAt);
  svc.telemetry.event(
    TELEMETRY.events.runFinished,
    { exportId: run.exportId, runId: run.runId, trigger: run.trigger, status: run.status, dryRun: run.dryRun, error: run.error },
    { ...run.counts, durationMs },
  );
}

/**
 * Cancels a run at once. Its counts are settled from what ActiveCampaign confirmed so far: batches
 * not yet confirmed count as `failed` (not sent, or not confirmed), so the counts add up now.
 */
export async function cancelRun(svc: AppServices, exportId: string, runId: string, reason: string): Promise<Run> {
  const current = await svc.runs.getRun(exportId, runId);
  const sums = current?.batches.total !== undefined ? await sumBatches(svc, runId) : undefined;
  const { run, changed } = await svc.runs.updateRun(exportId, runId, (r) => {
    if (TERMINAL_STATUSES.has(r.status)) return undefined;
    const counts = sums && r.batches.total !== undefined ? settledCounts(r.counts, sums) : r.counts;
    return { ...r, counts, status: 'cancelled', error: reason, finishedAt: new Date().toISOString() };
  });
  if (changed) reportRunFinished(svc, run);
  return run;
}

interface BatchSums {
  contacts: number;
  unsubscribes: number;
  rejected: number;
  upserted: number;
  unsubscribed: number;
  failed: number;
  /** Failed contacts of terminal batches only (live counts while the run is sending). */
  terminalFailed: number;
  terminal: number;
  batches: number;
  withFailures: BatchState[];
}

async function sumBatches(svc: AppServices, runId: string): Promise<BatchSums> {
  const sums: BatchSums = { contacts: 0, unsubscribes: 0, rejected: 0, upserted: 0, unsubscribed: 0, failed: 0, terminalFailed: 0, terminal: 0, batches: 0, withFailures: [] };
  for await (const b of svc.runs.listBatches(runId)) {
    sums.batches++;
    sums.contacts += b.contacts;
    sums.unsubscribes += b.unsubscribes;
    sums.rejected += b.rejected;
    if (TERMINAL_BATCH.has(b.status)) {
      sums.terminal++;
      sums.upserted += b.upserted;
      sums.unsubscribed += b.unsubscribed;
      sums.failed += b.failed;
      sums.terminalFailed += b.failed;
      if (b.status !== 'completed' || b.failed > 0 || b.rejected > 0 || b.unsubscribes > b.unsubscribed) sums.withFailures.push(b);
    } else {
      sums.failed += Math.max(0, b.contacts - b.rejected - b.unsubscribes);
    }
  }
  return sums;
}

/** Counts from the planner's (read, duplicate, unchanged) and the batches' outcomes. */
function settledCounts(planned: RunCounts, sums: BatchSums): RunCounts {
  // Rows the planner rejected are whatever it read and did not put in a batch.
  const plannerRejected = planned.read - planned.duplicate - planned.unchanged - (sums.contacts - sums.unsubscribes);
  return {
    read: planned.read,
    duplicate: planned.duplicate,
    unchanged: planned.unchanged,
    rejected: plannerRejected + sums.rejected,
    upserted: sums.upserted,
    unsubscribed: sums.unsubscribed,
    failed: sums.failed,
  };
}

export type BatchOutcome = Pick<BatchState, 'status' | 'rejected' | 'upserted' | 'unsubscribed' | 'failed' | 'error'>;

/**
 * Records a batch's terminal outcome once (a redelivered message finds it already terminal).
 * Only the batch's own entity is written: the run watcher adds batches up, so a thousand workers
 * never contend for the run's entity.
 */
export async function completeBatch(svc: AppServices, exportId: string, runId: string, batch: number, outcome: BatchOutcome, known?: BatchState): Promise<void> {
  let recorded = false;
  await svc.runs.updateBatch(runId, batch, (s) => {
    if (TERMINAL_BATCH.has(s.status)) return undefined;
    recorded = true;
    return { ...s, ...outcome, counted: true };
  }, known);
  if (recorded && outcome.failed > 0) svc.telemetry.metric(TELEMETRY.metrics.failedContacts, outcome.failed, { exportId, runId });
}

/**
 * The run watcher, on its own queue: every poll interval it adds up the run's batches, shows the
 * live counts on the run, and finalizes it once every batch is terminal. Returns whether it
 * should look again.
 */
export async function watchRun(svc: AppServices, exportId: string, runId: string): Promise<boolean> {
  const run = await svc.runs.getRun(exportId, runId);
  if (!run || TERMINAL_STATUSES.has(run.status) || run.batches.total === undefined) return false;
  const sums = await sumBatches(svc, runId);
  if (sums.terminal >= run.batches.total) {
    await finalizeRun(svc, exportId, runId, sums);
    return false;
  }
  await svc.runs.updateRun(exportId, runId, (r) =>
    TERMINAL_STATUSES.has(r.status)
      ? undefined
      : { ...r, counts: { ...settledCounts(r.counts, sums), failed: sums.terminalFailed }, batches: { total: r.batches.total, done: sums.terminal }, lastProgressAt: new Date().toISOString() },
  );
  return true;
}

export async function enqueueWatch(svc: AppServices, exportId: string, runId: string): Promise<void> {
  await svc.queues.send(QUEUES.progress, { exportId, runId }, { delayInMs: svc.config.importPollIntervalInMs });
}

/**
 * Ends a run whose batches are all terminal. Counts are summed again from the batches, so a
 * worker that died between its two writes cannot leave them wrong. Only the first caller wins.
 */
export async function finalizeRun(svc: AppServices, exportId: string, runId: string, known?: BatchSums): Promise<Run | undefined> {
  const run = await svc.runs.getRun(exportId, runId);
  if (!run || TERMINAL_STATUSES.has(run.status) || run.batches.total === undefined) return run;
  const sums = known ?? (await sumBatches(svc, runId));
  if (sums.terminal < run.batches.total) return run;
  if (run.status === 'sending') await commitState(svc, exportId, runId, sums.withFailures);
  const { run: finished, changed } = await svc.runs.updateRun(exportId, runId, (r) => {
    if (TERMINAL_STATUSES.has(r.status)) return undefined;
    const counts = settledCounts(r.counts, sums);
    return { ...r, counts, status: terminalStatus(r.status, counts), batches: { total: r.batches.total, done: sums.terminal }, finishedAt: new Date().toISOString() };
  });
  if (changed) reportRunFinished(svc, finished);
  return finished;
}

/**
 * The export's new state: this run's contacts less those that failed or were rejected (sent again
 * next time), plus those whose unsubscribe failed (tried again next time).
 */
async function commitState(svc: AppServices, exportId: string, runId: string, withFailures: BatchState[]): Promise<void> {
  const failed = new Set<string>();
  const keep: string[] = [];
  for (const b of withFailures) {
    const whole = b.status !== 'completed';
    const named = new Set(whole ? [] : await svc.runFiles.readFailedEmails(runId, b.batch));
    if (!whole && named.size === 0 && b.unsubscribes === b.unsubscribed) continue;
    for (const c of await svc.runFiles.readBatch(runId, b.batch)) {
      if (!whole && !named.has(c.email)) continue;
      failed.add(c.email);
      if (c.unsubscribe) keep.push(c.email);
    }
    // Contacts ActiveCampaign rejected were taken out of the batch blob; their emails are named.
    for (const email of named) failed.add(email);
  }
  await svc.exportState.commit(exportId, runId, failed, keep);
}

export function terminalStatus(current: RunStatus, counts: RunCounts): RunStatus {
  if (current === 'cancelled' || current === 'failed') return current;
  return counts.failed > 0 || counts.rejected > 0 ? 'completedWithErrors' : 'completed';
}

export const newId = () => randomUUID();
