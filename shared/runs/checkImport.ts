import type { ActiveCampaignClient, ImportContact } from '../activecampaign/client.js';
import { AuthenticationError, RateLimitError } from '../activecampaign/errors.js';
import { BudgetWaitError } from '../activecampaign/rateBudget.js';
import { retryDelayInMs, throttleDelayInMs } from '../activecampaign/retryPolicy.js';
import { TERMINAL_STATUSES, type Export } from '../model.js';
import type { AppServices } from '../services.js';
import type { Returner } from '../store/runFiles.js';
import type { BatchState } from '../store/runStore.js';
import { TELEMETRY } from '../telemetry.js';
import {
  completeBatch,
  connectionGone,
  keyRefusedMessage,
  wholeBatch,
  writeRejectedRows,
  type BatchDeps,
  type BatchOutcome,
} from './batchOutcome.js';
import { endRun, settleEndedRun } from './runLifecycle.js';
import type { StatusMessage } from './runQueues.js';
import { MAX_UNCERTAIN_POSTS } from './sendBatch.js';

export type CheckDeps = BatchDeps & Pick<AppServices, 'exports' | 'connections' | 'activeCampaign'>;

/** Failed or interrupted imports are sent again this many times before the batch is `failed`. */
export const MAX_RESUBMITS = 2;
/** Polls before an import that never finishes is sent again (about an hour at the default interval). */
export const MAX_POLLS = 720;
/** Failed checks (timeouts, storage) before the contacts are looked up instead: with back-off, about 15 minutes. */
const MAX_CHECK_ATTEMPTS = 12;
/**
 * How long after its unsubscribe a list membership may still change without counting as someone
 * else's change (ActiveCampaign stamps the membership when it applies the import).
 */
const UNSUBSCRIBE_SLACK_IN_MS = 10 * 60_000;

const RETURNER_REFUSED =
  'not re-subscribed: the contact left the list on its own after this export had unsubscribed it (ActiveCampaign keeps it unsubscribed)';

export type CheckOutcome = 'pending' | 'completed' | 'resubmitted' | 'failed' | 'skipped' | 'verifying';

/**
 * The status checker: polls ActiveCampaign's import/info until the import is done, records the
 * contacts it could not process as failed, re-subscribes contacts this export had unsubscribed
 * that came back, and resubmits failed or interrupted imports a bounded number of times. A check
 * that cannot get an answer is retried; it never sends the batch again itself.
 */
export async function checkImport(
  deps: CheckDeps,
  message: StatusMessage,
  log: (m: string) => void = () => {},
): Promise<CheckOutcome> {
  const { exportId, runId, batch, importId } = message;
  const state = await deps.runs.getBatch(runId, batch);
  if (!state || state.status !== 'submitted' || state.importId !== importId) return 'skipped';
  const run = await deps.runs.getRun(exportId, runId);
  if (!run) return 'skipped';
  // An import ActiveCampaign accepted is checked to its end even after its run ended (cancelled):
  // its contacts arrived or not, and the run's counts say which. Nothing is sent for it any more.
  const ended = TERMINAL_STATUSES.has(run.status);
  const exp = await deps.exports.getCached(exportId);
  if (!exp) {
    if (!ended) await endRun(deps, exportId, runId, 'cancelled', 'The export was deleted');
    return 'skipped';
  }
  const connection = await deps.connections.getCached(exp.connectionId);
  if (!connection) {
    if (!ended) await connectionGone(deps, exp, runId);
    return 'failed';
  }
  const endWhole = async (outcome: BatchOutcome): Promise<CheckOutcome> => {
    await completeBatch(deps, exportId, runId, batch, outcome, state);
    await settleEndedRun(deps, exportId, runId, batch);
    return outcome.status === 'failed' ? 'failed' : 'completed';
  };
  try {
    const client = await deps.activeCampaign(connection);
    // Patience 0: a throttled check goes back on the queue instead of holding a worker.
    const info = await client.getImportInfo(importId, { patienceInMs: 0 });
    if (info.status === 'completed') {
      const outcome = await complete(deps, client, exp, state, info.failure, ended);
      if (ended) await settleEndedRun(deps, exportId, runId, batch);
      return outcome;
    }
    if (info.status === 'failed' || info.status === 'interrupted') {
      const reason = `ActiveCampaign reported the import ${info.status}`;
      return ended
        ? await endWhole(wholeBatch('failed', 'failed', reason))
        : await resubmit(deps, message, state, reason, log);
    }
    const polls = (message.polls ?? 0) + 1;
    if (polls >= MAX_POLLS) {
      const reason = `The import did not finish after ${polls} checks`;
      return ended
        ? await endWhole(wholeBatch('failed', 'unknown', reason))
        : await resubmit(deps, message, state, reason, log);
    }
    await deps.queues.statusCheck(
      { ...message, polls, attempt: 0, throttles: 0, throttledSince: undefined },
      deps.config.importPollIntervalInMs,
    );
    return 'pending';
  } catch (error) {
    if (error instanceof AuthenticationError) {
      if (ended) return endWhole(wholeBatch('failed', 'unknown', `The import could not be checked: ${error.message}`));
      await endRun(deps, exportId, runId, 'failed', keyRefusedMessage(connection, error), { errorCode: 'KeyRefused' });
      return 'failed';
    }
    if (error instanceof BudgetWaitError) {
      await deps.queues.statusCheck(message, error.retryAfterInMs);
      return 'pending';
    }
    if (error instanceof RateLimitError) {
      const throttles = (message.throttles ?? 0) + 1;
      const delay = throttleDelayInMs(error.retryAfterInMs, throttles, message.throttledSince);
      if (delay === undefined)
        return verifyInstead(deps, message, state, `ActiveCampaign kept throttling the checks: ${error.message}`, log);
      await deps.queues.statusCheck(
        { ...message, throttles, throttledSince: message.throttledSince ?? Date.now() },
        delay,
      );
      deps.telemetry.metric(TELEMETRY.metrics.rateLimitWaits, 1, {
        exportId,
        runId,
        delayMs: delay,
        reason: error.name,
      });
      return 'pending';
    }
    const attempt = (message.attempt ?? 0) + 1;
    if (attempt >= MAX_CHECK_ATTEMPTS)
      return verifyInstead(deps, message, state, `The import could not be checked: ${(error as Error).message}`, log);
    await deps.queues.statusCheck({ ...message, attempt }, retryDelayInMs(attempt));
    log(`Import ${importId} of batch ${batch}: check ${attempt} failed (${(error as Error).message}); trying again`);
    return 'pending';
  }
}

/**
 * A completed import: contacts named in `failure` failed; returners are re-subscribed (not when
 * the run has ended: nothing is sent for it then, and they count as not sent); the others took
 * effect. Safe to repeat (a throttled re-subscription puts the check back and redoes it).
 */
async function complete(
  deps: CheckDeps,
  client: ActiveCampaignClient,
  exp: Export,
  state: BatchState,
  failure: string[],
  ended: boolean,
): Promise<CheckOutcome> {
  const { runId, batch } = state;
  const failedEmails = new Set(failure.map((e) => e.trim().toLowerCase()));
  const contacts = (await deps.runFiles.readBatch(runId, batch)) ?? [];
  const returners =
    state.resubscribes > 0
      ? (await deps.runFiles.readReturners(runId, batch)).filter((r) => !failedEmails.has(r.email))
      : [];
  const refused: { email: string; reason: string }[] = [];
  const notResubscribed = new Set<string>();
  for (const r of returners) {
    if (ended) {
      notResubscribed.add(r.email);
      continue;
    }
    const outcome = await resubscribe(client, r, exp.listId);
    if (outcome === 'refused') refused.push({ email: r.email, reason: RETURNER_REFUSED });
    else if (outcome === 'missing') failedEmails.add(r.email);
  }
  if (failedEmails.size > 0) await deps.runFiles.addFailedEmails(runId, batch, [...failedEmails]);
  // A refused returner stays in the export's state as sent (not retried): the contact's own unsubscribe stands.
  if (refused.length > 0) await writeRejectedRows(deps, exp.id, runId, refused);
  const counts = tally(
    contacts.filter((c) => !notResubscribed.has(c.email)),
    failedEmails,
    new Set(refused.map((r) => r.email)),
  );
  await completeBatch(
    deps,
    exp.id,
    runId,
    batch,
    {
      status: 'completed',
      ...counts,
      notSent: notResubscribed.size,
      rejected: refused.length > 0 ? { count: refused.length, reason: RETURNER_REFUSED } : undefined,
      error: failedEmails.size > 0 ? 'ActiveCampaign could not process the contact' : undefined,
    },
    state,
  );
  return 'completed';
}

/**
 * Contacts of a completed import: failed ones (named), refused returners (rejected, counted there), the rest took
 * effect.
 */
export function tally(
  contacts: ImportContact[],
  failedEmails: ReadonlySet<string>,
  refused: ReadonlySet<string> = new Set(),
): { upserted: number; unsubscribed: number; failed: number } {
  let upserted = 0;
  let unsubscribed = 0;
  let failed = 0;
  for (const c of contacts) {
    const isUnsubscribe = Boolean(c.unsubscribe?.length);
    if (refused.has(c.email)) continue;
    if (failedEmails.has(c.email)) {
      if (!isUnsubscribe) failed++;
    } else if (isUnsubscribe) unsubscribed++;
    else upserted++;
  }
  return { upserted, unsubscribed, failed };
}

/**
 * Re-subscribes a contact this export unsubscribed and that is back in the segment, through
 * contactLists (the importer cannot). A contact whose membership changed after this export's
 * unsubscribe (it re-joined and left on its own) is left as it is: `refused`.
 */
export async function resubscribe(
  client: ActiveCampaignClient,
  returner: Returner,
  listId: number,
): Promise<'resubscribed' | 'refused' | 'missing'> {
  const [contact] = await client.findContacts(returner.email, {}, { patienceInMs: 0 });
  if (!contact) return 'missing';
  const membership = (await client.getContactLists(contact.id, { patienceInMs: 0 })).find(
    (m) => m.list === String(listId),
  );
  if (membership?.status === '1') return 'resubscribed';
  if (membership?.status === '2') {
    const changedAt = Date.parse(membership.udate ?? '');
    if (!Number.isFinite(changedAt) || changedAt > returner.unsubscribedAt + UNSUBSCRIBE_SLACK_IN_MS) return 'refused';
  }
  await client.updateListStatus(contact.id, listId, 1);
  return 'resubscribed';
}

async function resubmit(
  deps: CheckDeps,
  message: StatusMessage,
  state: BatchState,
  reason: string,
  log: (m: string) => void,
): Promise<CheckOutcome> {
  const { exportId, runId, batch } = message;
  if (state.resubmits >= MAX_RESUBMITS) {
    log(`Batch ${batch} of run ${runId} failed: ${reason}`);
    await completeBatch(deps, exportId, runId, batch, wholeBatch('failed', 'failed', reason));
    return 'failed';
  }
  const updated = await deps.runs.updateBatch(runId, batch, (s) =>
    s.status !== 'submitted' || s.importId !== message.importId
      ? undefined
      : { ...s, status: 'pending', importId: undefined, resubmits: s.resubmits + 1, error: reason },
  );
  if (updated?.status !== 'pending') return 'skipped';
  await deps.queues.batches({ exportId, runId, batch });
  log(`Batch ${batch} of run ${runId} sent again (${reason})`);
  return 'resubmitted';
}

/** An accepted import that cannot be confirmed: the send worker looks its contacts up instead (never a new post). */
async function verifyInstead(
  deps: CheckDeps,
  message: StatusMessage,
  state: BatchState,
  reason: string,
  log: (m: string) => void,
): Promise<CheckOutcome> {
  const { exportId, runId, batch } = message;
  const updated = await deps.runs.updateBatch(
    runId,
    batch,
    (s) =>
      s.status !== 'submitted' || s.importId !== message.importId
        ? undefined
        : { ...s, status: 'pending', uncertainPosts: MAX_UNCERTAIN_POSTS, error: reason },
    state,
  );
  if (updated?.status !== 'pending') return 'skipped';
  await deps.queues.batches({ exportId, runId, batch });
  log(`Batch ${batch} of run ${runId}: ${reason}; its contacts will be looked up`);
  return 'verifying';
}
