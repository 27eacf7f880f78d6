import { TERMINAL_STATUSES } from '../model.js';
import type { AppServices } from '../services.js';
import { TERMINAL_BATCH } from '../store/runStore.js';
import { TELEMETRY } from '../telemetry.js';
import { completeBatch, wholeBatch, type BatchDeps } from './batchOutcome.js';
import { endRun, newWatchId } from './runLifecycle.js';
import {
  parseMessage,
  poisonQueue,
  QUEUES,
  splitBatchMessage,
  type BatchMessage,
  type QueueName,
  type StatusMessage,
} from './runQueues.js';
import { MAX_UNCERTAIN_POSTS, recordAcceptedImport } from './sendBatch.js';

export type PoisonDeps = BatchDeps & Pick<AppServices, 'runs'>;

/** Times a poisoned message is brought back to its queue (later each time) before its work is ended. */
export const MAX_POISON_RETURNS = 3;
/**
 * The first return waits 24 poll intervals (2 minutes at the default 5 s), the next ones twice as
 * long each; a poison handler that cannot reach storage puts the message back on its own poison
 * queue 12 poll intervals later. The poll interval is the engine's clock, so tests run it faster.
 */
const returnDelayInMs = (deps: Pick<AppServices, 'config'>, poisoned: number) =>
  24 * deps.config.importPollIntervalInMs * 2 ** (poisoned - 1);
const retryDelayInMs = (deps: Pick<AppServices, 'config'>) => 12 * deps.config.importPollIntervalInMs;

/**
 * The handler of `<queue>-poison`, where the host moves a message after maxDequeueCount failed
 * attempts. Storage that was down for a while is the usual cause, so the work comes back (later
 * each time) a few times before it is ended: a plan fails its run, a batch not yet accepted is
 * recorded as failed (one that was accepted goes on being checked), a lost watcher is re-armed.
 * It never throws: a message it cannot parse is logged and reported once; when storage is still
 * down it puts the message back on its own poison queue instead of letting the host move it on to
 * `<queue>-poison-poison`, which nothing reads.
 */
export async function handlePoisoned(
  deps: PoisonDeps,
  queue: QueueName,
  raw: unknown,
  log: (m: string) => void = () => {},
): Promise<void> {
  const message = parseMessage(queue, raw);
  if (!message) {
    log(
      `A message on ${poisonQueue(queue)} is not a ${queue} message and was dropped: ${JSON.stringify(raw)?.slice(0, 200)}`,
    );
    deps.telemetry.event(TELEMETRY.events.poisonMessage, { queue: poisonQueue(queue), parsed: false });
    return;
  }
  const poisoned = (message.poisoned ?? 0) + 1;
  if (poisoned === 1) {
    deps.telemetry.event(TELEMETRY.events.poisonMessage, {
      queue: poisonQueue(queue),
      exportId: message.exportId,
      runId: message.runId,
      batch: 'batch' in message ? message.batch : undefined,
      parsed: true,
    });
  }
  try {
    await bringBack(deps, queue, { ...message, poisoned }, log);
  } catch (error) {
    log(
      `Could not handle a poisoned ${queue} message of run ${message.runId} (${(error as Error).message}); trying again in ${retryDelayInMs(deps) / 1000} s`,
    );
    try {
      await deps.queues.send(poisonQueue(queue), message, retryDelayInMs(deps));
    } catch (e) {
      log(
        `Could not put the message back on ${poisonQueue(queue)} either (${(e as Error).message}); the run's watcher or the scheduled refresh will pick the work up`,
      );
    }
  }
}

async function bringBack(
  deps: PoisonDeps,
  queue: QueueName,
  message: NonNullable<ReturnType<typeof parseMessage>> & { poisoned: number },
  log: (m: string) => void,
): Promise<void> {
  const { exportId, runId, poisoned } = message;
  const run = await deps.runs.getRun(exportId, runId);
  // An accepted import is checked to its end even after its run ended.
  if (!run || (TERMINAL_STATUSES.has(run.status) && queue !== QUEUES.status)) return;
  const delay = returnDelayInMs(deps, poisoned);
  const giveUp = poisoned > MAX_POISON_RETURNS;
  switch (queue) {
    case QUEUES.plan:
      if (giveUp)
        await endRun(
          deps,
          exportId,
          runId,
          'failed',
          'Planning failed repeatedly; see the logs of the planRun function',
          { planned: run.counts },
        );
      else await deps.queues.plan(message, delay);
      return;
    case QUEUES.progress: {
      // A watcher is cheap and must never be lost: always re-armed, as a new chain.
      const watchId = newWatchId();
      await deps.runs.updateRun(exportId, runId, (r) =>
        TERMINAL_STATUSES.has(r.status) ? undefined : { ...r, watchId },
      );
      await deps.queues.watch({ exportId, runId, watchId }, deps.config.importPollIntervalInMs);
      return;
    }
    case QUEUES.batches:
    case QUEUES.status: {
      const parts: BatchMessage[] =
        queue === QUEUES.batches
          ? splitBatchMessage(message as BatchMessage)
          : [{ exportId, runId, batch: (message as StatusMessage).batch }];
      for (const part of parts) {
        const { batch } = part;
        const state = await deps.runs.getBatch(runId, batch);
        if (!state || TERMINAL_BATCH.has(state.status)) continue;
        // Accepted by ActiveCampaign but not recorded (storage failed): recorded now, never posted again.
        if (await recordAcceptedImport(deps, part, state)) continue;
        if (state.status === 'submitted' && state.importId && !giveUp) {
          // Accepted by ActiveCampaign: never recorded as failed for the app's own trouble; keep checking.
          await deps.queues.statusCheck({ exportId, runId, batch, importId: state.importId, poisoned }, delay);
        } else if (state.status === 'submitted' && state.importId) {
          // Its checks keep failing: the send worker looks the contacts up instead (no new post).
          await deps.runs.updateBatch(
            runId,
            batch,
            (s) =>
              s.status !== 'submitted' ? undefined : { ...s, status: 'pending', uncertainPosts: MAX_UNCERTAIN_POSTS },
            state,
          );
          await deps.queues.batches({ exportId, runId, batch, poisoned: 0 }, delay);
        } else if (giveUp) {
          log(`Batch ${batch} of run ${runId} failed to process ${poisoned} times; recording it as failed`);
          await completeBatch(
            deps,
            exportId,
            runId,
            batch,
            wholeBatch('failed', 'failed', 'Processing failed repeatedly (poison message); see the logs'),
          );
        } else {
          // Its claim comes back with it, so that the next delivery recognises its own claim.
          await deps.queues.batches(
            { exportId, runId, batch, claimId: part.claimId, acceptedImportId: part.acceptedImportId, poisoned },
            delay,
          );
        }
      }
      return;
    }
  }
}
