import type { ImportContact } from '../activecampaign/client.js';
import { ValidationError } from '../activecampaign/errors.js';
import { classifyFailure, retryDelayInMs } from '../activecampaign/retryPolicy.js';
import { TERMINAL_STATUSES } from '../model.js';
import type { AppServices } from '../services.js';
import { QUEUES } from '../store/workQueues.js';
import { TELEMETRY } from '../telemetry.js';
import type { BatchMessage, StatusMessage } from './messages.js';
import { completeBatch } from './runLifecycle.js';
import { TERMINAL_BATCH } from './runStore.js';

/** Failed attempts (not throttling) before a batch is given up as `failed`. */
export const MAX_SEND_ATTEMPTS = 5;
/** A batch whose contacts ActiveCampaign keeps rejecting one round after another is given up. */
const MAX_VALIDATION_ROUNDS = 5;

export type SendOutcome = 'submitted' | 'skipped' | 'deferred' | 'completed' | 'failed' | 'cancelled';

/** The run ended (cancelled, for example by deleting its export) while the batch waited to be sent. */
class RunEndedError extends Error {
  override readonly name = 'RunEndedError';
}

/**
 * The send worker. Idempotent per batch: a redelivered message never sends a batch that was
 * accepted. Throttling puts the message back with the delay asked for, without using up an
 * attempt; other failures back off and retry; after the last attempt the batch is `failed`.
 */
export async function sendBatch(svc: AppServices, message: BatchMessage, log: (m: string) => void = () => {}): Promise<SendOutcome> {
  const { exportId, runId, batch } = message;
  const state = await svc.runs.getBatch(runId, batch);
  if (!state) {
    log(`Batch ${batch} of run ${runId} does not exist; message dropped`);
    return 'skipped';
  }
  if (state.status === 'submitted' && state.importId) {
    // A crash after the import was accepted: make sure its status is still being checked.
    await enqueueStatusCheck(svc, { exportId, runId, batch, importId: state.importId }, svc.config.importPollIntervalInMs);
    return 'skipped';
  }
  if (TERMINAL_BATCH.has(state.status)) return 'skipped';

  const exp = await svc.exports.getCached(exportId);
  const connection = exp && (await svc.connections.getCached(exp.connectionId));
  if (!exp || !connection) {
    await completeBatch(svc, exportId, runId, batch, { status: 'cancelled', rejected: state.rejected, upserted: 0, unsubscribed: 0, failed: Math.max(0, state.contacts - state.rejected - state.unsubscribes) }, state);
    return 'skipped';
  }

  let contacts = await svc.runFiles.readBatch(runId, batch);
  let rejected = state.rejected;
  let known = state;
  const attempt = message.attempt ?? 0;
  try {
    const client = await svc.activeCampaign(connection);
    for (let round = 0; ; round++) {
      if (contacts.length === 0) {
        await completeBatch(svc, exportId, runId, batch, { status: 'completed', rejected, upserted: 0, unsubscribed: 0, failed: 0 }, known);
        return 'completed';
      }
      try {
        // The run's status is read once the budget grants the request (which may take seconds), so
        // that nothing is sent after a cancellation, such as an export's deletion, was answered.
        const beforeSend = async () => {
          const current = await svc.runs.getRun(exportId, runId);
          if (!current || TERMINAL_STATUSES.has(current.status)) throw new RunEndedError(`Run ${runId} ended before batch ${batch} was sent`);
        };
        const { batchId } = await client.bulkImport(contacts, { beforeSend });
        await svc.runs.updateBatch(
          runId,
          batch,
          (s) => (TERMINAL_BATCH.has(s.status) ? undefined : { ...s, status: 'submitted', importId: batchId, rejected, attempts: attempt + 1 }),
          known,
        );
        await enqueueStatusCheck(svc, { exportId, runId, batch, importId: batchId }, svc.config.importPollIntervalInMs);
        svc.telemetry.metric(TELEMETRY.metrics.contactsSent, contacts.length, { exportId, runId, hostname: connection.hostname });
        log(`Batch ${batch} of run ${runId}: import ${batchId} queued with ${contacts.length} contact(s)`);
        return 'submitted';
      } catch (error) {
        if (!(error instanceof ValidationError) || error.failures.length === 0 || round >= MAX_VALIDATION_ROUNDS) throw error;
        // The importer refuses the whole request: drop exactly the contacts it named, resend the rest.
        const named = new Map(error.failures.filter((f) => f.index < contacts.length).map((f) => [f.index, f.reason]));
        if (named.size === 0) throw error;
        const writer = await svc.runFiles.rejectedRows(runId);
        for (const [index, reason] of named) await writer.add({ file: 'ActiveCampaign', row: '', email: contacts[index].email, reason: `ActiveCampaign: ${reason}` });
        await writer.flush();
        await svc.runs.updateRun(exportId, runId, (r) => ({ ...r, rejectedRows: svc.runFiles.rejectedPath(runId) }));
        rejected += named.size;
        await svc.runFiles.addFailedEmails(runId, batch, [...named.keys()].map((i) => contacts[i].email));
        contacts = contacts.filter((_, i) => !named.has(i));
        // The payload blob keeps what is sent, so the status checker tallies the right contacts.
        await svc.runFiles.writeBatch(runId, batch, contacts);
        known = (await svc.runs.updateBatch(runId, batch, (s) => ({ ...s, rejected }), known)) ?? known;
        log(`Batch ${batch} of run ${runId}: ActiveCampaign rejected ${named.size} contact(s); resending ${contacts.length}`);
      }
    }
  } catch (error) {
    if (error instanceof RunEndedError) {
      await completeBatch(svc, exportId, runId, batch, { status: 'cancelled', rejected, upserted: 0, unsubscribed: 0, failed: contacts.filter((c) => !c.unsubscribe).length }, known);
      log(error.message);
      return 'cancelled';
    }
    return handleFailure(svc, message, contacts, rejected, error, log);
  }
}

async function handleFailure(
  svc: AppServices,
  message: BatchMessage,
  contacts: ImportContact[],
  rejected: number,
  error: unknown,
  log: (m: string) => void,
): Promise<SendOutcome> {
  const { exportId, runId, batch } = message;
  const attempt = message.attempt ?? 0;
  const kind = classifyFailure(error);
  const reason = (error as Error).message;
  if (kind === 'throttled') {
    const delay = (error as { retryAfterInMs?: number }).retryAfterInMs ?? 1_000;
    await svc.queues.send(QUEUES.batches, message, { delayInMs: delay });
    svc.telemetry.metric(TELEMETRY.metrics.rateLimitWaits, 1, { exportId, runId, delayMs: delay, reason: (error as Error).name });
    log(`Batch ${batch} of run ${runId} throttled; back on the queue in ${delay} ms (${reason})`);
    return 'deferred';
  }
  if (kind === 'retryable' && attempt + 1 < MAX_SEND_ATTEMPTS) {
    const delay = retryDelayInMs(attempt + 1);
    await svc.queues.send(QUEUES.batches, { ...message, attempt: attempt + 1 }, { delayInMs: delay });
    svc.telemetry.metric(TELEMETRY.metrics.batchRetries, 1, { exportId, runId, attempt: attempt + 1 });
    log(`Batch ${batch} of run ${runId} attempt ${attempt + 1} failed; retrying in ${delay} ms (${reason})`);
    return 'deferred';
  }
  log(`Batch ${batch} of run ${runId} failed: ${reason}`);
  const unsubscribes = contacts.filter((c) => c.unsubscribe?.length).length;
  await completeBatch(svc, exportId, runId, batch, {
    status: 'failed',
    rejected,
    upserted: 0,
    unsubscribed: 0,
    failed: contacts.length - unsubscribes,
    error: reason,
  });
  return 'failed';
}

export async function enqueueStatusCheck(svc: AppServices, message: StatusMessage, delayInMs: number): Promise<void> {
  await svc.queues.send(QUEUES.status, message, { delayInMs });
}
