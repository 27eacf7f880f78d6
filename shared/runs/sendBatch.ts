import { randomUUID } from 'node:crypto';
import type { ActiveCampaignClient } from '../activecampaign/client.js';
import { AuthenticationError, RateLimitError, TransientError, ValidationError } from '../activecampaign/errors.js';
import { BudgetWaitError } from '../activecampaign/rateBudget.js';
import { classifyFailure, retryDelayInMs, throttleDelayInMs } from '../activecampaign/retryPolicy.js';
import { TERMINAL_STATUSES, type Connection, type Export } from '../model.js';
import type { AppServices } from '../services.js';
import { TERMINAL_BATCH, type BatchState } from '../store/runStore.js';
import { TELEMETRY } from '../telemetry.js';
import {
  completeBatch,
  connectionGone,
  keyRefusedMessage,
  recordRejected,
  runEnded,
  wholeBatch,
  type BatchDeps,
} from './batchOutcome.js';
import { endRun } from './runLifecycle.js';
import type { BatchMessage } from './runQueues.js';

export type SendDeps = BatchDeps & Pick<AppServices, 'exports' | 'connections' | 'activeCampaign'>;

/** Failed attempts of ActiveCampaign (not throttling) before a batch is given up as `failed`. */
export const MAX_SEND_ATTEMPTS = 5;
/** Failed attempts for the app's own reasons (storage down): with capped back-off, about half an hour. */
export const MAX_INFRASTRUCTURE_ATTEMPTS = 30;
/** A batch whose contacts ActiveCampaign keeps rejecting one round after another is given up. */
const MAX_VALIDATION_ROUNDS = 5;
/**
 * Posts whose answer was lost (a timeout, a reset) before the batch is checked contact by contact
 * instead of posted again: at most this many imports a batch.
 */
export const MAX_UNCERTAIN_POSTS = 2;
/**
 * A posting claim lasts the request's timeout and a margin: it is taken once the budget's slot has
 * come, so that a delivery that dies holds its batch only briefly.
 */
const postClaimTtlInMs = (deps: Pick<AppServices, 'config'>) => deps.config.activeCampaignTimeoutInMs + 15_000;
/** A look-up claim is renewed every few contacts. */
const lookupClaimTtlInMs = (deps: Pick<AppServices, 'config'>) => 2 * deps.config.activeCampaignTimeoutInMs + 15_000;
/** How long to wait after a lost answer before the one repeat: an import accepted late shows by then. */
const uncertainWaitInMs = (deps: Pick<AppServices, 'config'>) =>
  Math.max(5_000, 2 * deps.config.activeCampaignTimeoutInMs);

export type SendOutcome = 'submitted' | 'skipped' | 'deferred' | 'completed' | 'failed' | 'cancelled';

/** The run ended (cancelled, or failed) while the batch waited to be sent. */
class RunEndedError extends Error {
  override readonly name = 'RunEndedError';
}

/**
 * The send worker. A batch is claimed (an ETag-conditional write) before it is posted, so two
 * deliveries of one message cannot both send it, and a redelivered message never sends a batch
 * that was accepted. Throttling puts the message back with the delay asked for (backing off, for a
 * bounded time) without using up an attempt; a post whose answer was lost is repeated at most once,
 * after a wait, and then the contacts are looked up; other failures back off and retry; a refused
 * API key fails the whole run at once.
 */
export async function sendBatch(
  deps: SendDeps,
  message: BatchMessage,
  log: (m: string) => void = () => {},
): Promise<SendOutcome> {
  const { exportId, runId, batch } = message;
  const state = await deps.runs.getBatch(runId, batch);
  if (!state || TERMINAL_BATCH.has(state.status)) return 'skipped';
  if (state.status === 'submitted' && state.importId) {
    // A crash after the import was accepted: make sure its status is still being checked.
    await deps.queues.statusCheck(
      { exportId, runId, batch, importId: state.importId },
      deps.config.importPollIntervalInMs,
    );
    return 'skipped';
  }
  const run = await deps.runs.getRun(exportId, runId);
  if (!run || TERMINAL_STATUSES.has(run.status)) {
    await runEnded(deps, exportId, runId, state);
    return 'cancelled';
  }
  const exp = await deps.exports.getCached(exportId);
  if (!exp) {
    await endRun(deps, exportId, runId, 'cancelled', 'The export was deleted');
    return 'cancelled';
  }
  const connection = await deps.connections.getCached(exp.connectionId);
  if (!connection) {
    await connectionGone(deps, exp, runId);
    return 'failed';
  }

  if (await recordAcceptedImport(deps, message, state)) return 'submitted';
  const claimId = message.claimId ?? randomUUID();
  if (heldByAnother(state, claimId)) {
    // Another delivery is posting the batch right now: look again once its claim would have run out.
    await deps.queues.batches(
      { ...message, claimId: undefined },
      Math.max(1_000, state.claimedUntil! - Date.now() + 1_000),
    );
    return 'deferred';
  }
  const again = { ...message, claimId };
  try {
    const client = await deps.activeCampaign(connection);
    if (state.uncertainPosts >= MAX_UNCERTAIN_POSTS) return await verifyArrival(deps, client, exp, state, again, log);
    return await post(deps, client, exp, connection, state, again, log);
  } catch (error) {
    return handleFailure(deps, connection, again, error, log);
  }
}

/**
 * A message whose predecessor posted the batch and could not record the answer (storage failed)
 * carries the import and its claim: the import is recorded and checked, never posted again.
 * Returns false when the message carries none, or the batch moved on since.
 */
export async function recordAcceptedImport(
  deps: Pick<AppServices, 'runs' | 'queues' | 'config'>,
  message: BatchMessage,
  state: BatchState,
): Promise<boolean> {
  const { exportId, runId, batch, acceptedImportId: importId, claimId } = message;
  if (!importId || !claimId || state.status !== 'sending' || state.claimId !== claimId) return false;
  await deps.runs.updateBatch(
    runId,
    batch,
    (s) =>
      s.claimId !== claimId
        ? undefined
        : { ...s, status: 'submitted', importId, claimId: undefined, claimedUntil: undefined, postingAt: undefined },
    state,
  );
  await deps.queues.statusCheck({ exportId, runId, batch, importId }, deps.config.importPollIntervalInMs);
  return true;
}

const heldByAnother = (s: BatchState, claimId: string) =>
  s.status === 'sending' && s.claimId !== claimId && (s.claimedUntil ?? 0) > Date.now();

/** Another delivery claimed the batch between this one's first look and its post: that one sends it. */
class ClaimHeldError extends Error {
  override readonly name = 'ClaimHeldError';
}

/**
 * Takes the batch for this delivery for `ttlInMs` (or renews its own claim), ETag-conditional so
 * that two deliveries cannot both take it; undefined when another delivery holds it.
 */
async function claim(
  deps: SendDeps,
  state: BatchState,
  claimId: string,
  ttlInMs: number,
  extra: Partial<BatchState> = {},
): Promise<BatchState | undefined> {
  let taken = false;
  const result = await deps.runs.updateBatch(
    state.runId,
    state.batch,
    (s) => {
      // Called again after a conflict, with what the other writer left: decide afresh.
      taken = false;
      if ((s.status !== 'pending' && s.status !== 'sending') || heldByAnother(s, claimId)) return undefined;
      taken = true;
      return { ...s, ...extra, status: 'sending', claimId, claimedUntil: Date.now() + ttlInMs };
    },
    state,
  );
  return taken ? result : undefined;
}

async function post(
  deps: SendDeps,
  client: ActiveCampaignClient,
  exp: Export,
  connection: Connection,
  state: BatchState,
  again: BatchMessage,
  log: (m: string) => void,
): Promise<SendOutcome> {
  const { exportId, runId, batch } = again;
  const claimId = again.claimId!;
  let contacts = await deps.runFiles.readBatch(runId, batch);
  if (!contacts) return 'skipped'; // the run ended and its payloads are gone
  let known = state;
  for (let round = 0; ; round++) {
    if (contacts.length === 0) {
      await completeBatch(
        deps,
        exportId,
        runId,
        batch,
        { status: 'completed', upserted: 0, unsubscribed: 0, failed: 0 },
        undefined,
      );
      return 'completed';
    }
    let marked = false;
    try {
      // Once the budget grants the request (which may take seconds) the batch is marked as posting,
      // and then the run's status is read: a run that ends from now on waits for this post, and one
      // that ended already stops it, so nothing is sent after a cancellation was answered.
      const beforeSend = async () => {
        const claimed = await claim(deps, known, claimId, postClaimTtlInMs(deps), { postingAt: Date.now() });
        if (!claimed) throw new ClaimHeldError(`Batch ${batch} of run ${runId} is being sent by another delivery`);
        known = claimed;
        marked = true;
        const current = await deps.runs.getRun(exportId, runId);
        if (!current || TERMINAL_STATUSES.has(current.status))
          throw new RunEndedError(`Run ${runId} ended before batch ${batch} was sent`);
      };
      let batchId: string;
      try {
        batchId = (await client.bulkImport(contacts, { beforeSend, excludeAutomations: !exp.runAutomations })).batchId;
      } catch (error) {
        if (marked) known = (await clearPosting(deps, known, claimId)) ?? known;
        throw error;
      }
      try {
        await deps.runs.updateBatch(
          runId,
          batch,
          (s) =>
            s.status !== 'sending' || s.claimId !== claimId
              ? undefined
              : {
                  ...s,
                  status: 'submitted',
                  importId: batchId,
                  claimId: undefined,
                  claimedUntil: undefined,
                  postingAt: undefined,
                  attempts: s.attempts + 1,
                },
          known,
        );
      } catch (error) {
        // Accepted but not recorded (storage): the next delivery records this import instead of
        // posting again. That message is the only one: a retry of this one would post again.
        await deps.queues.batches({ ...again, acceptedImportId: batchId }, 1_000);
        log(
          `Batch ${batch} of run ${runId}: import ${batchId} accepted but not recorded (${(error as Error).message}); recorded by the next delivery`,
        );
        return 'deferred';
      }
      await deps.queues.statusCheck({ exportId, runId, batch, importId: batchId }, deps.config.importPollIntervalInMs);
      deps.telemetry.metric(TELEMETRY.metrics.contactsSent, contacts.length, {
        exportId,
        runId,
        hostname: connection.hostname,
      });
      log(`Batch ${batch} of run ${runId}: import ${batchId} queued with ${contacts.length} contact(s)`);
      return 'submitted';
    } catch (error) {
      if (!(error instanceof ValidationError) || error.failures.length === 0 || round >= MAX_VALIDATION_ROUNDS)
        throw error;
      // The importer refuses the whole request: drop exactly the contacts it named, resend the rest.
      const named = new Map(error.failures.filter((f) => f.index < contacts!.length).map((f) => [f.index, f.reason]));
      if (named.size === 0) throw error;
      const refused = [...named].map(([index, reason]) => ({
        email: contacts![index].email,
        reason: `ActiveCampaign: ${reason}`,
      }));
      known = await recordRejected(deps, exportId, known, refused);
      contacts = contacts.filter((_, i) => !named.has(i));
      // The payload blob keeps what is sent, so the status checker tallies the right contacts.
      await deps.runFiles.writeBatch(runId, batch, contacts);
      log(
        `Batch ${batch} of run ${runId}: ActiveCampaign rejected ${named.size} contact(s); resending ${contacts.length}`,
      );
    }
  }
}

/** The post is over (it failed): a run that ends no longer needs to wait for it. Best effort. */
async function clearPosting(
  deps: SendDeps,
  known: BatchState,
  claimId: string | undefined,
): Promise<BatchState | undefined> {
  try {
    return await deps.runs.updateBatch(
      known.runId,
      known.batch,
      (s) => (s.claimId !== claimId || s.postingAt === undefined ? undefined : { ...s, postingAt: undefined }),
      known,
    );
  } catch {
    return undefined;
  }
}

/**
 * After two posts whose answers were lost, each contact is looked up instead of a third post: one
 * on the list (an unsubscribe: unsubscribed from it) arrived; one that is not is known not to have
 * arrived and counts as failed (the next run sends it again).
 */
async function verifyArrival(
  deps: SendDeps,
  client: ActiveCampaignClient,
  exp: Export,
  state: BatchState,
  again: BatchMessage,
  log: (m: string) => void,
): Promise<SendOutcome> {
  const { runId, batch } = state;
  const claimId = again.claimId!;
  if (!(await claim(deps, state, claimId, lookupClaimTtlInMs(deps)))) return 'skipped';
  const contacts = await deps.runFiles.readBatch(runId, batch);
  if (!contacts) return 'skipped';
  let upserted = 0;
  let unsubscribed = 0;
  const missing: string[] = [];
  for (const [i, c] of contacts.entries()) {
    if (i > 0 && i % 10 === 0 && !(await claim(deps, state, claimId, lookupClaimTtlInMs(deps)))) return 'skipped';
    const isUnsubscribe = Boolean(c.unsubscribe?.length);
    const found = await client.findContacts(
      c.email,
      { listId: exp.listId, status: isUnsubscribe ? 2 : undefined },
      { patienceInMs: 0 },
    );
    if (found.length === 0) {
      if (!isUnsubscribe) missing.push(c.email);
    } else if (isUnsubscribe) unsubscribed++;
    else upserted++;
  }
  if (missing.length > 0) await deps.runFiles.addFailedEmails(runId, batch, missing);
  log(
    `Batch ${batch} of run ${runId}: looked up after two lost answers: ${upserted + unsubscribed} arrived, ${missing.length} did not`,
  );
  await completeBatch(
    deps,
    exp.id,
    runId,
    batch,
    {
      status: 'completed',
      upserted,
      unsubscribed,
      failed: missing.length,
      error:
        missing.length > 0
          ? 'ActiveCampaign did not answer, and the contact was not on the list afterwards'
          : undefined,
    },
    undefined,
    { checkClaim: claimId },
  );
  return 'completed';
}

async function handleFailure(
  deps: SendDeps,
  connection: Connection,
  again: BatchMessage,
  error: unknown,
  log: (m: string) => void,
): Promise<SendOutcome> {
  const { exportId, runId, batch } = again;
  const reason = (error as Error).message;
  if (error instanceof ClaimHeldError) {
    log(reason);
    return 'skipped';
  }
  if (error instanceof RunEndedError) {
    await completeBatch(
      deps,
      exportId,
      runId,
      batch,
      wholeBatch('cancelled', 'notSent', 'The run ended before the batch was sent'),
    );
    log(reason);
    return 'cancelled';
  }
  if (error instanceof AuthenticationError) {
    await completeBatch(deps, exportId, runId, batch, wholeBatch('failed', 'failed', reason));
    await endRun(deps, exportId, runId, 'failed', keyRefusedMessage(connection, error), { errorCode: 'KeyRefused' });
    log(`Batch ${batch} of run ${runId}: ${reason}; the run is stopped`);
    return 'failed';
  }
  if (error instanceof BudgetWaitError) {
    // The app's own budget is taken: no ActiveCampaign refusal, no back-off.
    await deps.queues.batches(again, error.retryAfterInMs);
    return 'deferred';
  }
  if (error instanceof RateLimitError) {
    const delay = throttleDelayInMs(error.retryAfterInMs, (again.throttles ?? 0) + 1, again.throttledSince);
    if (delay === undefined) {
      await completeBatch(
        deps,
        exportId,
        runId,
        batch,
        wholeBatch('failed', 'failed', `ActiveCampaign kept refusing requests: ${reason}`),
      );
      return 'failed';
    }
    await deps.queues.batches(
      { ...again, throttles: (again.throttles ?? 0) + 1, throttledSince: again.throttledSince ?? Date.now() },
      delay,
    );
    deps.telemetry.metric(TELEMETRY.metrics.rateLimitWaits, 1, { exportId, runId, delayMs: delay, reason: error.name });
    log(`Batch ${batch} of run ${runId} throttled; back on the queue in ${delay} ms (${reason})`);
    return 'deferred';
  }
  if (error instanceof TransientError && error.mayHaveArrived) {
    const wait = uncertainWaitInMs(deps);
    await deps.runs.updateBatch(runId, batch, (s) =>
      s.claimId !== again.claimId ? undefined : { ...s, uncertainPosts: s.uncertainPosts + 1, error: reason },
    );
    await deps.queues.batches(again, wait);
    log(
      `Batch ${batch} of run ${runId}: no answer to the post (${reason}); it may have arrived, so nothing is sent again for ${wait / 1000} s`,
    );
    return 'deferred';
  }
  const attempt = (again.attempt ?? 0) + 1;
  // A storage outage costs time, not the batch: the app's own failures get many more (capped) retries than
  // ActiveCampaign's.
  const limit = error instanceof TransientError ? MAX_SEND_ATTEMPTS : MAX_INFRASTRUCTURE_ATTEMPTS;
  if (classifyFailure(error) === 'retryable' && attempt < limit) {
    const delay = retryDelayInMs(attempt);
    await deps.queues.batches({ ...again, attempt }, delay);
    deps.telemetry.metric(TELEMETRY.metrics.batchRetries, 1, { exportId, runId, attempt });
    log(`Batch ${batch} of run ${runId} attempt ${attempt} failed; retrying in ${delay} ms (${reason})`);
    return 'deferred';
  }
  log(`Batch ${batch} of run ${runId} failed: ${reason}`);
  await completeBatch(deps, exportId, runId, batch, wholeBatch('failed', 'failed', reason));
  return 'failed';
}
