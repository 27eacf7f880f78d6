import { TERMINAL_STATUSES } from '../model.js';
import { TELEMETRY } from '../telemetry.js';
import { completeBatch, recordAcceptedImport, reopenBatch, wholeBatch, type BatchDeps } from './batchOutcome.js';
import { decidePoisoned, engineTiming, FAILURE_LIMITS, poisonRetryDelayInMs } from './failurePolicy.js';
import { endRun, rearmWatcher } from './runLifecycle.js';
import { TERMINAL_BATCH } from './runModel.js';
import {
  parseMessage,
  poisonQueue,
  QUEUES,
  splitBatchMessage,
  splitImportCheck,
  type BatchMessage,
  type ImportCheckMessage,
  type QueueName,
} from './runQueues.js';

/**
 * The handler of `<queue>-poison`, where the host moves a message after maxDequeueCount failed
 * attempts. What comes back and what ends is failurePolicy.ts's decidePoisoned; this carries it
 * out: a plan fails its run, a batch not yet accepted is recorded as failed (one that was accepted
 * goes on being checked), a lost watcher is re-armed. It never throws: a message it cannot parse is
 * logged and reported once; when storage is still down it puts the message back on its own poison
 * queue instead of letting the host move it on to `<queue>-poison-poison`, which nothing reads.
 */
export async function handlePoisoned(
  deps: BatchDeps,
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
    const delay = poisonRetryDelayInMs(engineTiming(deps.config));
    log(
      `Could not handle a poisoned ${queue} message of run ${message.runId} (${(error as Error).message}); trying again in ${delay / 1000} s`,
    );
    try {
      await deps.queues.send(poisonQueue(queue), message, delay);
    } catch (e) {
      log(
        `Could not put the message back on ${poisonQueue(queue)} either (${(e as Error).message}); the run's watcher or the scheduled refresh will pick the work up`,
      );
    }
  }
}

async function bringBack(
  deps: BatchDeps,
  queue: QueueName,
  message: NonNullable<ReturnType<typeof parseMessage>> & { poisoned: number },
  log: (m: string) => void,
): Promise<void> {
  const { exportId, runId, poisoned } = message;
  const run = await deps.runs.getRun(exportId, runId);
  // An accepted import is checked to its end even after its run ended.
  if (!run || (TERMINAL_STATUSES.has(run.status) && queue !== QUEUES.importCheck)) return;
  const timing = engineTiming(deps.config);
  if (queue === QUEUES.plan || queue === QUEUES.watch) {
    const decision = decidePoisoned(queue, poisoned, false, timing);
    switch (decision.action) {
      case 'rearmWatcher':
        await rearmWatcher(deps, exportId, runId, timing.pollIntervalInMs);
        return;
      case 'endRun':
        await endRun(deps, exportId, runId, 'failed', decision.reason, { planned: run.counts });
        return;
      case 'returnLater':
        await deps.queues.plan(message, decision.delayInMs);
        return;
    }
    return;
  }
  const parts: BatchMessage[] =
    queue === QUEUES.batches
      ? splitBatchMessage(message as BatchMessage)
      : splitImportCheck(message as ImportCheckMessage).map(({ batch }) => ({ exportId, runId, batch }));
  for (const part of parts) {
    const { batch } = part;
    const state = await deps.runs.getBatch(runId, batch);
    if (!state || TERMINAL_BATCH.has(state.status)) continue;
    // Accepted by ActiveCampaign but not recorded (storage failed): recorded now, never posted again.
    if (await recordAcceptedImport(deps, part, state)) continue;
    const importId = state.status === 'submitted' ? state.importId : undefined;
    const decision = decidePoisoned(queue, poisoned, importId !== undefined, timing);
    switch (decision.action) {
      case 'checkImport':
        await deps.queues.importCheck({ exportId, runId, batch, importId: importId!, poisoned }, decision.delayInMs);
        break;
      case 'verify':
        await reopenBatch(deps, part, 'verify', 'Its checks failed repeatedly', (s) => s.status === 'submitted', {
          known: state,
          uncertainPosts: FAILURE_LIMITS.uncertainPosts,
          delayInMs: decision.delayInMs,
        });
        break;
      case 'endBatch':
        log(`Batch ${batch} of run ${runId} failed to process ${poisoned} times; recording it as failed`);
        await completeBatch(deps, exportId, runId, batch, wholeBatch(decision.status, decision.rest, decision.reason));
        break;
      case 'returnLater':
        // Its claim comes back with it, so that the next delivery recognises its own claim.
        await deps.queues.batches(
          { exportId, runId, batch, claimId: part.claimId, acceptedImportId: part.acceptedImportId, poisoned },
          decision.delayInMs,
        );
        break;
    }
  }
}
