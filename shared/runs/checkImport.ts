import type { ActiveCampaignClient, ImportContact } from '../activecampaign/client.js';
import type { AuthenticationError } from '../activecampaign/errors.js';
import { TERMINAL_STATUSES, type Connection, type Export } from '../model.js';
import {
  completeBatch,
  keyRefusedMessage,
  loadTarget,
  reopenBatch,
  reportThrottled,
  wholeBatch,
  writeRejectedRows,
  type BatchDeps,
} from './batchOutcome.js';
import { decideFailure, engineTiming, FAILURE_LIMITS, ImportEndedError, ImportStuckError } from './failurePolicy.js';
import { endRun, settleEndedRun } from './runLifecycle.js';
import type { BatchState, Returner, RunRecord } from './runModel.js';
import { handleTogether } from './importChecksTogether.js';
import { splitImportCheck, type ImportCheckMessage } from './runQueues.js';

/**
 * How long after its unsubscribe a list membership may still change without counting as someone
 * else's change (ActiveCampaign stamps the membership when it applies the import).
 */
const UNSUBSCRIBE_SLACK_IN_MS = 10 * 60_000;

const RETURNER_REFUSED =
  'not re-subscribed: the contact left the list on its own after this export had unsubscribed it (ActiveCampaign keeps it unsubscribed)';

export type CheckOutcome = 'pending' | 'completed' | 'resubmitted' | 'failed' | 'skipped' | 'verifying';

/**
 * The import checker: polls ActiveCampaign's import/info until the import is done, records the
 * contacts it could not process as failed, and re-subscribes contacts this export had unsubscribed
 * that came back. What a failed check or import means is failurePolicy.ts's to decide (it never
 * posts the batch itself); this carries it out.
 */
export async function checkImport(
  deps: BatchDeps,
  message: ImportCheckMessage,
  log: (m: string) => void = () => {},
  known?: { run: RunRecord | undefined },
): Promise<CheckOutcome> {
  const { exportId, runId, batch, importId } = message;
  const state = await deps.runs.getBatch(runId, batch);
  if (!state || state.status !== 'submitted' || state.importId !== importId) return 'skipped';
  const run = known ? known.run : await deps.runs.getRun(exportId, runId);
  if (!run) return 'skipped';
  // An import ActiveCampaign accepted is checked to its end even after its run ended (cancelled):
  // its contacts arrived or not, and the run's counts say which. Nothing is sent for it any more.
  const ended = TERMINAL_STATUSES.has(run.status);
  const target = await loadTarget(deps, exportId, runId, ended);
  if ('gone' in target) return target.gone === 'export' ? 'skipped' : 'failed';
  const { exp, connection } = target;
  try {
    const client = await deps.activeCampaign(connection);
    // Patience 0: a throttled check goes back on the queue instead of holding a worker.
    const info = await client.getImportInfo(importId, { patienceInMs: 0 });
    if (info.status === 'completed') {
      const outcome = await complete(deps, client, exp, state, info.failure, ended);
      if (ended) await settleEndedRun(deps, exportId, runId, batch);
      return outcome;
    }
    if (info.status === 'failed' || info.status === 'interrupted')
      throw new ImportEndedError(`ActiveCampaign reported the import ${info.status}`);
    const polls = (message.polls ?? 0) + 1;
    if (polls >= FAILURE_LIMITS.polls) throw new ImportStuckError(`The import did not finish after ${polls} checks`);
    await deps.queues.importCheck(
      { ...message, polls, attempt: 0, throttles: 0, throttledSince: undefined },
      deps.config.importPollIntervalInMs,
    );
    return 'pending';
  } catch (error) {
    return handleFailure(deps, message, state, ended, connection, error, log);
  }
}

/**
 * An import check message: its imports each on its own, at once, with one read of their run, and those
 * still running looked at again with one message. One that throws fails the message once the others are over.
 */
export function checkImports(
  deps: BatchDeps,
  message: ImportCheckMessage,
  logFor: (one: ImportCheckMessage) => (m: string) => void = () => () => {},
): Promise<CheckOutcome[]> {
  return handleTogether(deps, message, splitImportCheck(message), (together, one, known) =>
    checkImport(together, one, logFor(one), known),
  );
}

/** Carries out what failurePolicy.ts decides about a failed check or import. */
async function handleFailure(
  deps: BatchDeps,
  message: ImportCheckMessage,
  state: BatchState,
  ended: boolean,
  connection: Connection,
  error: unknown,
  log: (m: string) => void,
): Promise<CheckOutcome> {
  const { exportId, runId, batch, importId } = message;
  const reason = (error as Error).message;
  const decision = decideFailure(error, {
    work: 'check',
    tries: message,
    resubmits: state.resubmits,
    runEnded: ended,
    timing: engineTiming(deps.config),
  });
  const stillChecked = (s: BatchState) => s.status === 'submitted' && s.importId === importId;
  switch (decision.action) {
    case 'retry':
      await deps.queues.importCheck({ ...message, ...decision.tries }, decision.delayInMs);
      if (decision.why === 'throttled') reportThrottled(deps, { exportId, runId }, decision.delayInMs, error);
      if (decision.why === 'failed')
        log(`Import ${importId} of batch ${batch}: check ${decision.tries.attempt} failed (${reason}); trying again`);
      return 'pending';
    case 'resubmit':
      if (!(await reopenBatch(deps, message, 'resubmit', reason, stillChecked))) return 'skipped';
      log(`Batch ${batch} of run ${runId} sent again (${reason})`);
      return 'resubmitted';
    case 'verify':
      if (
        !(await reopenBatch(deps, message, 'verify', decision.reason, stillChecked, {
          known: state,
          uncertainPosts: FAILURE_LIMITS.uncertainPosts,
        }))
      )
        return 'skipped';
      log(`Batch ${batch} of run ${runId}: ${decision.reason}; its contacts will be looked up`);
      return 'verifying';
    case 'endBatch':
      log(`Batch ${batch} of run ${runId} failed: ${decision.reason}`);
      await completeBatch(
        deps,
        exportId,
        runId,
        batch,
        wholeBatch(decision.status, decision.rest, decision.reason),
        state,
      );
      if (ended) await settleEndedRun(deps, exportId, runId, batch);
      return 'failed';
    case 'endRun':
      await endRun(deps, exportId, runId, 'failed', keyRefusedMessage(connection, error as AuthenticationError), {
        errorCode: decision.errorCode,
      });
      return 'failed';
  }
}

/**
 * A completed import: contacts named in `failure` failed; returners are re-subscribed (not when
 * the run has ended: nothing is sent for it then, and they count as not sent); the others took
 * effect. Safe to repeat (a throttled re-subscription puts the check back and redoes it).
 */
async function complete(
  deps: BatchDeps,
  client: ActiveCampaignClient,
  exp: Export,
  state: BatchState,
  failure: string[],
  ended: boolean,
): Promise<CheckOutcome> {
  const { runId, batch } = state;
  const failedEmails = new Set(failure.map((e) => e.trim().toLowerCase()));
  if (failedEmails.size === 0 && state.resubscribes === 0 && state.postedUpserts !== undefined) {
    // Everything arrived and nobody is re-subscribed: the counts are what was posted (no payload read).
    const counts = { upserted: state.postedUpserts, unsubscribed: state.postedUnsubscribes ?? 0, failed: 0 };
    await completeBatch(deps, exp.id, runId, batch, { status: 'completed', ...counts, notSent: 0 }, state);
    return 'completed';
  }
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
