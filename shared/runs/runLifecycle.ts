import { randomUUID } from 'node:crypto';
import {
  emptyCounts,
  TERMINAL_STATUSES,
  type Export,
  type RemovalConfirmation,
  type Run,
  type RunCounts,
} from '../model.js';
import { EmailTable, type EmailRange } from '../sync/emailTable.js';
import { equalRanges } from '../sync/planPasses.js';
import { UNKNOWN, unsubscribedMarker } from '../sync/delta.js';
import { TELEMETRY } from '../telemetry.js';
import { checkWaitingSnapshot } from './checkSchedule.js';
import { endEventType } from '../webhooks/webhookModel.js';
import type { EngineDeps } from './ports.js';
import { runCounts, runOutcome, runReasons, sumBatches, type BatchSums } from './runCounts.js';
import { newRunId, type BatchState, type PlannedCounts, type RunRecord } from './runModel.js';

export type LifecycleDeps = Pick<
  EngineDeps,
  'runs' | 'runFiles' | 'exportState' | 'queues' | 'telemetry' | 'config' | 'snapshotChecks' | 'runEvents'
>;

export interface StartRunOptions {
  trigger: Run['trigger'];
  dryRun?: boolean;
  fullSync?: boolean;
  /**
   * On demand only: the removals a run stopped at the guard showed, which this run may make (if they are still exactly
   * those).
   */
  confirmation?: RemovalConfirmation;
}

/**
 * Takes the export's lease, writes the run as `queued` and enqueues its plan message. Planning
 * itself happens on the queue, never inside an HTTP request. Throws RunActiveError (with the
 * active run's id) when the export already has an active run.
 */
export async function startRun(deps: LifecycleDeps, exp: Export, options: StartRunOptions): Promise<RunRecord> {
  const run: RunRecord = {
    runId: newRunId(),
    exportId: exp.id,
    trigger: options.trigger,
    status: 'queued',
    counts: emptyCounts(),
    startedAt: new Date().toISOString(),
    dryRun: Boolean(options.dryRun),
    fullSync: Boolean(options.fullSync),
    ...(options.trigger === 'manual' && options.confirmation
      ? { confirmRemovals: options.confirmation.runId, confirmation: options.confirmation }
      : {}),
    batches: { done: 0 },
  };
  await deps.runs.createRun(run);
  try {
    await deps.queues.plan({ exportId: exp.id, runId: run.runId });
  } catch (error) {
    await endRun(deps, exp.id, run.runId, 'failed', `Could not enqueue the run: ${(error as Error).message}`);
    throw error;
  }
  await deps.runEvents.announce('run.started', run);
  return run;
}

/**
 * Ends a run now (cancelled, or failed for a reason of the whole run) unless it already ended.
 * Its counts are settled from what ActiveCampaign confirmed so far: contacts never sent count as
 * `notSent`, those that may have arrived as `unknown`, so the counts add up at once. An import
 * ActiveCampaign accepted goes on being checked, and its outcome replaces `unknown` when it comes
 * (settleEndedRun). The export's state is left as it was.
 *
 * Nothing is sent for the run after this returns, nor after its `finishedAt`, which is set only
 * then (a moment after the status turns terminal when posts were in flight): a worker marks its
 * batch as posting and then reads the run's status just before it posts, so once the run is
 * terminal a post either never starts or was marked before; this waits for the marked posts to be
 * over (at most a request's timeout).
 */
export async function endRun(
  deps: LifecycleDeps,
  exportId: string,
  runId: string,
  status: 'cancelled' | 'failed',
  error: string,
  extra: { planned?: PlannedCounts; errorCode?: string; fields?: Partial<Run> } = {},
): Promise<RunRecord | undefined> {
  const current = await deps.runs.getRun(exportId, runId);
  if (!current || TERMINAL_STATUSES.has(current.status)) return current;
  const sums = current.plan ? sumBatches(await collect(deps.runs.listBatches(runId))) : undefined;
  const { run, changed } = await deps.runs.updateRun(exportId, runId, (r) => {
    if (TERMINAL_STATUSES.has(r.status)) return undefined;
    const counts = r.plan && sums ? runCounts(r.plan, sums, true) : unsentCounts(extra.planned ?? r.counts);
    const reasons = r.plan && sums ? runReasons(r.plan, sums) : r.reasons;
    // No finishedAt yet: posts that passed their check before this write may still go out.
    return { ...r, ...extra.fields, counts, reasons, status, error, finishedAt: undefined };
  });
  if (!changed) return run;
  await waitForPostsInFlight(deps, runId);
  // Accepted imports keep their payloads until they are checked (the import checker deletes them then).
  const batches = run.plan ? await collect(deps.runs.listBatches(runId)) : [];
  const checking = new Set(batches.filter((b) => b.status === 'submitted' && b.importId).map((b) => b.batch));
  await deps.runFiles.deleteWorkFiles(runId, checking);
  // Stamped only now, after this write and the wait: a time taken before the write could precede a
  // post that passed its check just before it and was answered (a login page) before the wait looked.
  await deps.runs.updateRun(exportId, runId, (r) => ({ ...r, finishedAt: new Date().toISOString() }));
  const settled = (await recountEndedRun(deps, exportId, runId)) ?? run;
  await publishRunEnd(deps, settled, extra.errorCode);
  return settled;
}

/**
 * A batch of a run that had already ended reached its outcome (an accepted import, checked to its
 * end after a cancel): its files go, and the run's counts are worked out again, so that delivered
 * contacts count as delivered. Its status and error stay.
 */
export async function settleEndedRun(
  deps: Pick<EngineDeps, 'runs' | 'runFiles'>,
  exportId: string,
  runId: string,
  batch: number,
): Promise<void> {
  await deps.runFiles.deleteBatchFiles(runId, batch);
  await recountEndedRun(deps, exportId, runId);
}

/**
 * The ended run's counts from its batches as they are now. Two recounts at once could write in
 * the wrong order, so each looks again after it wrote, until what it reads is what is stored.
 */
async function recountEndedRun(
  deps: Pick<EngineDeps, 'runs'>,
  exportId: string,
  runId: string,
): Promise<RunRecord | undefined> {
  let latest: RunRecord | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const sums = sumBatches(await collect(deps.runs.listBatches(runId)));
    const { run, changed } = await deps.runs.updateRun(exportId, runId, (r) => {
      if (!TERMINAL_STATUSES.has(r.status) || !r.plan) return undefined;
      const counts = runCounts(r.plan, sums, true);
      return JSON.stringify(counts) === JSON.stringify(r.counts)
        ? undefined
        : { ...r, counts, reasons: runReasons(r.plan, sums) };
    });
    latest = run;
    if (!changed) break;
  }
  return latest;
}

/** Waits while batches of the run are marked as posting (a post that passed its last check). */
async function waitForPostsInFlight(deps: Pick<EngineDeps, 'runs' | 'config'>, runId: string): Promise<void> {
  const limit = deps.config.activeCampaignTimeoutInMs + 5_000;
  for (;;) {
    const now = Date.now();
    const posting = (await collect(deps.runs.listBatches(runId))).filter(
      (b) => b.status === 'sending' && b.postingAt !== undefined && now - b.postingAt < limit,
    );
    if (posting.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Counts of a run that ends before its plan was written: what it read and did not decide was not sent. */
function unsentCounts(planned: PlannedCounts): RunCounts {
  const notSent = Math.max(0, planned.read - planned.rejected - planned.duplicate - planned.unchanged);
  return {
    ...emptyCounts(),
    read: planned.read,
    rejected: planned.rejected,
    duplicate: planned.duplicate,
    unchanged: planned.unchanged,
    notSent,
  };
}

/** What a run's end tells: the telemetry event, and the run webhooks (run.completed, run.failed, run.guarded). */
export async function publishRunEnd(
  deps: Pick<EngineDeps, 'telemetry' | 'runEvents'>,
  run: Run,
  errorCode?: string,
): Promise<void> {
  reportRunFinished(deps, run, errorCode);
  const type = endEventType(run, errorCode);
  if (type) await deps.runEvents.announce(type, run);
}

/** The custom event every run emits when it ends (Application Insights `customEvents`). */
export function reportRunFinished(deps: Pick<EngineDeps, 'telemetry'>, run: Run, errorCode?: string): void {
  const durationMs = Date.parse(run.finishedAt ?? new Date().toISOString()) - Date.parse(run.startedAt);
  const sent = run.counts.upserted + run.counts.unsubscribed;
  // A dry run's counts say what it would do; the alerts read real runs only (dryRun says which).
  deps.telemetry.event(
    TELEMETRY.events.runFinished,
    {
      exportId: run.exportId,
      runId: run.runId,
      trigger: run.trigger,
      status: run.status,
      dryRun: run.dryRun,
      error: run.error,
      errorCode,
    },
    { ...run.counts, sent, durationMs },
  );
}

/**
 * Ends a run whose batches are all terminal: commits the export's new state, settles the counts
 * from the plan and the batches (summed again, so a worker that died between two writes cannot
 * leave them wrong), decides the outcome and deletes the payloads. Only the first caller wins.
 */
export async function finalizeRun(
  deps: LifecycleDeps,
  exportId: string,
  runId: string,
  known?: { sums: BatchSums; batches: BatchState[] },
): Promise<RunRecord | undefined> {
  const run = await deps.runs.getRun(exportId, runId);
  if (!run || TERMINAL_STATUSES.has(run.status) || !run.plan) return run;
  const batches = known?.batches ?? (await collect(deps.runs.listBatches(runId)));
  const sums = known?.sums ?? sumBatches(batches);
  if (sums.terminal < run.plan.batches) return run;
  if (!run.dryRun) await commitState(deps, exportId, runId, batches);
  // Every batch is over and the state is committed: the payloads go before the run reads as ended.
  await deps.runFiles.deleteWorkFiles(runId);
  const { run: finished, changed } = await deps.runs.updateRun(exportId, runId, (r) => {
    if (TERMINAL_STATUSES.has(r.status) || !r.plan) return undefined;
    const counts = runCounts(r.plan, sums, true);
    const reasons = runReasons(r.plan, sums);
    const outcome = runOutcome(counts, reasons, sums);
    return {
      ...r,
      counts,
      reasons,
      ...outcome,
      batches: { total: r.plan.batches, done: sums.terminal },
      finishedAt: new Date().toISOString(),
    };
  });
  if (!changed) return finished;
  await publishRunEnd(deps, finished);
  await checkWaitingSnapshot(deps, exportId);
  return finished;
}

/**
 * The export's new state: this run's contacts, less those that failed or were rejected (sent again
 * next time), those an update-only run did not find (looked up again next time) and the old emails
 * of email changes made (mapping.identity); unsubscribes that took effect marked as such (so that a
 * contact who comes back is re-subscribed), those that did not kept as unknown (tried again);
 * returners whose re-subscription failed keep their marker.
 * The changes are held one range of emails at a time, at most PLANNER_EMAILS_PER_PASS (a run that
 * failed whole changes all of its contacts).
 */
async function commitState(deps: LifecycleDeps, exportId: string, runId: string, batches: BatchState[]): Promise<void> {
  // Committed already by a finalizer that died before the run read as ended (its work files may be gone).
  if ((await deps.exportState.pointer(exportId))?.runId === runId) return;
  // An untag batch (no import contacts) changes no contact's state.
  const touched = batches.filter(
    (b) =>
      (b.contacts > 0 && b.status !== 'completed') ||
      b.failed > 0 ||
      b.rejected > 0 ||
      b.unsubscribes > 0 ||
      b.resubscribes > 0 ||
      b.notInActiveCampaign > 0 ||
      b.renames > 0,
  );
  // At most this many pending contacts change: the named ones, or a whole batch that did not complete.
  const bound = touched.reduce(
    (n, b) =>
      n + b.failed + b.rejected + b.notInActiveCampaign + b.renames + (b.status !== 'completed' ? b.contacts : 0),
    0,
  );
  const perPass = deps.config.plannerEmailsPerPass;
  const now = Date.now();
  const changesIn = async (
    range: EmailRange,
    add: (email: string, value: number) => Promise<void> | undefined,
  ): Promise<EmailTable> => {
    const changed = new EmailTable(Math.min(bound, perPass));
    const drop = (email: string) => changed.see(email);
    for (const b of touched) {
      const whole = b.status !== 'completed';
      const named = new Set(
        [
          ...(await deps.runFiles.readFailedEmails(runId, b.batch)),
          ...(b.notInActiveCampaign > 0 ? await deps.runFiles.readNotInActiveCampaign(runId, b.batch) : []),
          // The old emails of email changes that were made (or had nothing to change).
          ...(b.renames > 0 ? await deps.runFiles.readRenamed(runId, b.batch) : []),
        ].filter((email) => EmailTable.inRange(email, range)),
      );
      const returners = new Map(
        b.resubscribes > 0
          ? (await deps.runFiles.readReturners(runId, b.batch)).map((r) => [r.email, r.unsubscribedAt])
          : [],
      );
      // Contacts ActiveCampaign rejected were taken out of the payload; their emails are named.
      for (const email of named) {
        const returnedAt = returners.get(email);
        if (returnedAt === undefined) drop(email);
        else changed.set(email, unsubscribedMarker(returnedAt));
      }
      if (!whole && named.size === 0 && b.unsubscribes === 0) continue;
      for (const c of (await deps.runFiles.readBatch(runId, b.batch)) ?? []) {
        if (!EmailTable.inRange(c.email, range)) continue;
        const failed = whole || named.has(c.email);
        const returnedAt = returners.get(c.email);
        // A leaver is not in the pending state: it is added with its unsubscribe's outcome.
        if (c.unsubscribe?.length) await add(c.email, failed ? UNKNOWN : unsubscribedMarker(now));
        else if (failed && returnedAt !== undefined) changed.set(c.email, unsubscribedMarker(returnedAt));
        else if (failed) drop(c.email);
      }
    }
    return changed;
  };
  await deps.exportState.commit(exportId, runId, { ranges: equalRanges(bound / perPass), changesIn });
}

/** The id of a new watcher chain (a re-armed watcher supersedes the old one). */
const newWatchId = () => randomUUID().slice(0, 8);

/**
 * Gives a sending run a new watcher chain, which supersedes any other (a copy of an old message
 * finds another id on the run and does nothing). Returns false when the run is not sending.
 */
export async function rearmWatcher(
  deps: Pick<EngineDeps, 'runs' | 'queues'>,
  exportId: string,
  runId: string,
  delayInMs: number,
): Promise<boolean> {
  const watchId = newWatchId();
  const { changed } = await deps.runs.updateRun(exportId, runId, (r) =>
    r.status !== 'sending' ? undefined : { ...r, watchId },
  );
  if (changed) await deps.queues.watch({ exportId, runId, watchId }, delayInMs);
  return changed;
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
