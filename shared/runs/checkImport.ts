import { classifyFailure, retryDelayInMs } from '../activecampaign/retryPolicy.js';
import type { ImportContact } from '../activecampaign/client.js';
import type { AppServices } from '../services.js';
import { QUEUES } from '../store/workQueues.js';
import { TELEMETRY } from '../telemetry.js';
import type { BatchMessage, StatusMessage } from './messages.js';
import { completeBatch } from './runLifecycle.js';
import { enqueueStatusCheck } from './sendBatch.js';

/** Failed or interrupted imports are sent again this many times before the batch is `failed`. */
export const MAX_RESUBMITS = 2;
/** Polls before an import that never finishes is given up (about an hour at the default interval). */
export const MAX_POLLS = 720;
const MAX_POLL_ATTEMPTS = 5;

export type CheckOutcome = 'pending' | 'completed' | 'resubmitted' | 'failed' | 'skipped';

/**
 * The status checker: polls ActiveCampaign's import/info until the import is done, records the
 * contacts it could not process as failed, and resubmits failed or interrupted imports a bounded
 * number of times.
 */
export async function checkImport(svc: AppServices, message: StatusMessage, log: (m: string) => void = () => {}): Promise<CheckOutcome> {
  const { exportId, runId, batch, importId } = message;
  const state = await svc.runs.getBatch(runId, batch);
  if (!state || state.status !== 'submitted' || state.importId !== importId) return 'skipped';
  const exp = await svc.exports.getCached(exportId);
  const connection = exp && (await svc.connections.getCached(exp.connectionId));
  if (!exp || !connection) {
    await completeBatch(svc, exportId, runId, batch, { status: 'cancelled', rejected: state.rejected, upserted: 0, unsubscribed: 0, failed: unsentUpserts(state) }, state);
    return 'skipped';
  }
  const polls = (message.polls ?? 0) + 1;
  let info;
  try {
    // Patience 0: a throttled check goes back on the queue instead of holding a worker.
    info = await (await svc.activeCampaign(connection)).getImportInfo(importId, { patienceInMs: 0 });
  } catch (error) {
    const kind = classifyFailure(error);
    const attempt = (message.attempt ?? 0) + 1;
    if (kind === 'throttled') {
      const delay = (error as { retryAfterInMs?: number }).retryAfterInMs ?? 1_000;
      await enqueueStatusCheck(svc, message, delay);
      svc.telemetry.metric(TELEMETRY.metrics.rateLimitWaits, 1, { exportId, runId, delayMs: delay, reason: (error as Error).name });
      return 'pending';
    }
    if (kind === 'retryable' && attempt < MAX_POLL_ATTEMPTS) {
      await enqueueStatusCheck(svc, { ...message, attempt }, retryDelayInMs(attempt));
      return 'pending';
    }
    // The import cannot be followed any more: send the batch again (the importer is idempotent by email).
    log(`Import ${importId} of batch ${batch} could not be checked: ${(error as Error).message}`);
    return resubmit(svc, message, state.resubmits, unsentUpserts(state), state.rejected, (error as Error).message, log);
  }

  if (info.status === 'completed') {
    const failedEmails = new Set(info.failure.map((e) => e.trim().toLowerCase()));
    let counts = { upserted: unsentUpserts(state), unsubscribed: state.unsubscribes, failed: 0 };
    if (failedEmails.size > 0) {
      // Only a partial failure needs the payload, to tell failed upserts from failed unsubscribes.
      await svc.runFiles.addFailedEmails(runId, batch, [...failedEmails]);
      counts = tally(await svc.runFiles.readBatch(runId, batch), failedEmails);
    }
    await completeBatch(svc, exportId, runId, batch, {
      status: 'completed',
      rejected: state.rejected,
      upserted: counts.upserted,
      unsubscribed: counts.unsubscribed,
      failed: counts.failed,
      error: failedEmails.size > 0 ? `ActiveCampaign could not process ${failedEmails.size} contact(s)` : undefined,
    }, state);
    return 'completed';
  }
  if (info.status === 'failed' || info.status === 'interrupted') {
    return resubmit(svc, message, state.resubmits, unsentUpserts(state), state.rejected, `ActiveCampaign reported the import ${info.status}`, log);
  }
  if (polls >= MAX_POLLS) {
    return resubmit(svc, message, state.resubmits, unsentUpserts(state), state.rejected, `The import did not finish after ${polls} checks`, log);
  }
  await enqueueStatusCheck(svc, { ...message, polls, attempt: 0 }, svc.config.importPollIntervalInMs);
  return 'pending';
}

/** Contacts of the batch that were to be upserted and not rejected: the failed ones if it fails. */
function unsentUpserts(state: { contacts: number; rejected: number; unsubscribes: number }): number {
  return Math.max(0, state.contacts - state.rejected - state.unsubscribes);
}

/** Contacts of a completed import: those named in `failure` failed; the others took effect. */
function tally(contacts: ImportContact[], failedEmails: Set<string>) {
  let upserted = 0;
  let unsubscribed = 0;
  let failed = 0;
  for (const c of contacts) {
    const isUnsubscribe = Boolean(c.unsubscribe?.length);
    if (failedEmails.has(c.email)) {
      if (!isUnsubscribe) failed++;
    } else if (isUnsubscribe) unsubscribed++;
    else upserted++;
  }
  return { upserted, unsubscribed, failed };
}

async function resubmit(
  svc: AppServices,
  message: StatusMessage,
  resubmits: number,
  remaining: number,
  rejected: number,
  reason: string,
  log: (m: string) => void,
): Promise<CheckOutcome> {
  const { exportId, runId, batch } = message;
  if (resubmits >= MAX_RESUBMITS) {
    log(`Batch ${batch} of run ${runId} failed: ${reason}`);
    await completeBatch(svc, exportId, runId, batch, { status: 'failed', rejected, upserted: 0, unsubscribed: 0, failed: remaining, error: reason });
    return 'failed';
  }
  await svc.runs.updateBatch(runId, batch, (s) =>
    s.status !== 'submitted' || s.importId !== message.importId
      ? undefined
      : { ...s, status: 'pending', importId: undefined, resubmits: s.resubmits + 1, error: reason },
  );
  await svc.queues.send(QUEUES.batches, { exportId, runId, batch } satisfies BatchMessage);
  log(`Batch ${batch} of run ${runId} sent again (${reason})`);
  return 'resubmitted';
}
