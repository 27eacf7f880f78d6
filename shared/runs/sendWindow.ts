import type { AppConfig } from '../config.js';
import { Pool } from '../pool.js';
import type { EngineDeps } from './ports.js';
import { rearmWatcher, type LifecycleDeps } from './runLifecycle.js';
import type { BatchState, PlanSummary, RunRecord } from './runModel.js';

/**
 * A run's batch messages go on the queue a window at a time. Every export on an ActiveCampaign account shares the
 * account's budget, and the batch queue is first in, first out: a run that enqueued all its batches at once would
 * make a run started after it wait for every one of them (a 500-contact export behind a million contacts waits 40
 * minutes). So a run keeps only three watcher intervals of the account's imports waiting to be sent (15 s with the
 * default 5 s interval, at least 10 s), and its watcher adds more each interval: a new run's batches are at most
 * that far behind, and the runs then share the budget batch by batch. Three intervals and at least 10 s, so that a
 * late watcher never lets the budget run dry.
 */

/** How many batch writes (or queue messages) are kept in flight. */
export const ENQUEUE_CONCURRENCY = 16;
/**
 * Batches per queue message, up to eight (a million contacts are 500 messages, not 4,000), but
 * never so few messages that a few instances take the whole run off the queue in their first receives.
 */
const MAX_BATCHES_PER_MESSAGE = 8;
const MIN_MESSAGES = 128;
/** The planner records how far it enqueued every this many messages (a redelivery resumes there). */
const ENQUEUE_CHECKPOINT = 32;
/** Watcher intervals of the account's imports a run keeps waiting to be sent, and at least this many seconds. */
const WINDOW_INTERVALS = 3;
const MIN_WINDOW_SECONDS = 10;

export const batchesPerMessage = (batches: number) =>
  Math.min(MAX_BATCHES_PER_MESSAGE, Math.max(1, Math.ceil(batches / MIN_MESSAGES)));

/**
 * With the app's budget off (ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE=0, an emulator without limits) the window is
 * sized as if the account allowed this many imports a minute: 40 a second, 10,000 contacts a second, more than one
 * machine sends. Every message waiting on a queue costs each receive of a storage emulator a little (Azurite
 * looks through them all for expired ones), so a million contacts are not put on the queue at once.
 */
const UNLIMITED_IMPORTS_PER_MINUTE = 2_400;

/** How many batches a run keeps waiting to be sent. */
export function sendWindow(config: Pick<AppConfig, 'bulkImportsPerMinute' | 'importPollIntervalInMs'>): number {
  const perMinute = config.bulkImportsPerMinute > 0 ? config.bulkImportsPerMinute : UNLIMITED_IMPORTS_PER_MINUTE;
  // A watcher that runs late on a busy machine must not let the budget run dry: short intervals get 10 s.
  const seconds = Math.max(MIN_WINDOW_SECONDS, (WINDOW_INTERVALS * config.importPollIntervalInMs) / 1000);
  const imports = (perMinute * seconds) / 60;
  return Math.max(MAX_BATCHES_PER_MESSAGE, Math.ceil(imports));
}

/**
 * PURE: how many of the plan's messages should be on the queue, given how many enqueued batches wait to be sent
 * (`waiting`): all of them, or enough that `window` batches wait.
 */
export function messagesWanted(
  plan: Pick<PlanSummary, 'batches' | 'messages' | 'enqueued'>,
  window: number,
  waiting: number,
): number {
  const room = Math.max(0, window - waiting);
  return Math.min(plan.messages, plan.enqueued + Math.ceil(room / batchesPerMessage(plan.batches)));
}

/** Enqueued batches not accepted yet: on the queue, or taken by a send worker (waiting for the budget, posting). */
export function batchesWaiting(plan: Pick<PlanSummary, 'batches' | 'enqueued'>, batches: Iterable<BatchState>): number {
  const enqueuedBatches = Math.min(plan.batches, plan.enqueued * batchesPerMessage(plan.batches));
  let waiting = 0;
  for (const b of batches)
    if ((b.status === 'pending' || b.status === 'sending') && b.batch <= enqueuedBatches) waiting++;
  return waiting;
}

/**
 * Enqueues the plan's messages from where the last attempt stopped up to `until` (a few batches each), and records
 * the progress every few messages. A message enqueued twice is harmless: each batch is claimed before it is sent.
 * Returns false when the run is no longer sending.
 */
export async function enqueueBatches(
  deps: Pick<EngineDeps, 'runs' | 'queues'>,
  run: RunRecord,
  until: number,
): Promise<boolean> {
  const plan = run.plan!;
  const perMessage = batchesPerMessage(plan.batches);
  const pool = new Pool(ENQUEUE_CONCURRENCY);
  let next = plan.enqueued;
  while (next < until) {
    const upTo = Math.min(until, next + ENQUEUE_CHECKPOINT);
    for (let m = next; m < upTo; m++) {
      const first = m * perMessage + 1;
      const group = Array.from({ length: Math.min(perMessage, plan.batches - first + 1) }, (_, i) => first + i);
      await pool.run(() =>
        deps.queues.batches({ exportId: run.exportId, runId: run.runId, batch: group[0], batches: group }),
      );
    }
    await pool.drain();
    next = upTo;
    const done = next;
    const { run: current } = await deps.runs.updateRun(run.exportId, run.runId, (r) =>
      r.status !== 'sending' || !r.plan || r.plan.enqueued >= done
        ? undefined
        : { ...r, plan: { ...r.plan, enqueued: done }, lastProgressAt: new Date().toISOString() },
    );
    if (current.status !== 'sending') return false;
  }
  return true;
}

/**
 * The planner's last step, and what a redelivered plan message finishes: the first window of messages, and the
 * run's watcher, which enqueues the rest as they are sent.
 */
export async function startSendingBatches(
  deps: LifecycleDeps,
  run: RunRecord,
  log: (m: string) => void = () => {},
): Promise<void> {
  const plan = run.plan!;
  if (plan.enqueued > 0) log(`Run ${run.runId}: resuming at message ${plan.enqueued + 1} of ${plan.messages}`);
  if (!(await enqueueBatches(deps, run, messagesWanted(plan, sendWindow(deps.config), 0)))) return;
  // A fresh watcher chain: a copy of this message arming a second watcher would be superseded by it.
  await rearmWatcher(deps, run.exportId, run.runId, deps.config.importPollIntervalInMs);
}
