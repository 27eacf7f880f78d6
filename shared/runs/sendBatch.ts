import { randomUUID } from 'node:crypto';
import type { ActiveCampaignClient } from '../activecampaign/client.js';
import { ActiveCampaignNotFoundError, ValidationError, type AuthenticationError } from '../activecampaign/errors.js';
import { TERMINAL_STATUSES, type Connection, type Export } from '../model.js';
import { TELEMETRY } from '../telemetry.js';
import {
  completeBatch,
  keyRefusedMessage,
  loadTarget,
  recordAcceptedImport,
  recordRejected,
  reportThrottled,
  runEnded,
  wholeBatch,
  writeRejectedRows,
  type BatchDeps,
} from './batchOutcome.js';
import { ClaimHeldError, decideFailure, engineTiming, FAILURE_LIMITS, RunEndedError } from './failurePolicy.js';
import type { EngineDeps } from './ports.js';
import { SYNC_MODES } from '../sync/syncModes.js';
import { endRun } from './runLifecycle.js';
import { TERMINAL_BATCH, type BatchState, type RunRecord } from './runModel.js';
import { handleTogether } from './importChecksTogether.js';
import { splitBatchMessage, type BatchMessage } from './runQueues.js';

/**
 * A posting claim lasts the request's timeout and a margin: it is taken once the budget's slot has
 * come, so that a delivery that dies holds its batch only briefly.
 */
const postClaimTtlInMs = (deps: Pick<EngineDeps, 'config'>) => deps.config.activeCampaignTimeoutInMs + 15_000;
/** A look-up claim is renewed every few contacts (LOOKUPS_PER_CLAIM). */
const LOOKUPS_PER_CLAIM = 10;
const lookupClaimTtlInMs = (deps: Pick<EngineDeps, 'config'>) => 2 * deps.config.activeCampaignTimeoutInMs + 15_000;

export type SendOutcome = 'submitted' | 'skipped' | 'deferred' | 'completed' | 'failed' | 'cancelled';

/**
 * The send worker. A batch is claimed (an ETag-conditional write) before it is posted, so two
 * deliveries of one message cannot both send it, and a redelivered message never sends a batch
 * that was accepted. What a failure means is failurePolicy.ts's to decide; this carries it out.
 */
export async function sendBatch(
  deps: BatchDeps,
  message: BatchMessage,
  log: (m: string) => void = () => {},
  known?: { run: RunRecord | undefined },
): Promise<SendOutcome> {
  const { exportId, runId, batch } = message;
  const state = await deps.runs.getBatch(runId, batch);
  if (!state || TERMINAL_BATCH.has(state.status)) return 'skipped';
  if (state.status === 'submitted' && state.importId) {
    // A crash after the import was accepted: make sure its status is still being checked.
    await deps.queues.importCheck(
      { exportId, runId, batch, importId: state.importId },
      deps.config.importPollIntervalInMs,
    );
    return 'skipped';
  }
  // Read again just before the post (the gate): this read only spares an ended run's batches their work.
  const run = known ? known.run : await deps.runs.getRun(exportId, runId);
  if (!run || TERMINAL_STATUSES.has(run.status)) {
    await runEnded(deps, exportId, runId, state);
    return 'cancelled';
  }
  const target = await loadTarget(deps, exportId, runId, false);
  if ('gone' in target) return target.gone === 'export' ? 'cancelled' : 'failed';
  const { exp, connection } = target;

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
    if (state.uncertainPosts >= FAILURE_LIMITS.uncertainPosts)
      return await verifyArrival(deps, client, exp, state, again, log);
    let ready = state;
    for (const step of BEFORE_IMPORT) {
      if (!step.due(ready, exp)) continue;
      const after = await step.run({ deps, client, exp, again, log }, ready);
      if (after === 'ended') {
        await runEnded(deps, exportId, runId, ready);
        return 'cancelled';
      }
      if (!after) return 'skipped';
      ready = after;
    }
    return await post(deps, client, exp, connection, ready, again, log);
  } catch (error) {
    return handleFailure(deps, connection, again, error, log);
  }
}

/**
 * A batch message: its batches each on its own, at once, with one read of their run (each reads it again
 * before it posts), and the imports they start checked with one message. One that throws fails the message
 * once the others are over and their checks sent; the redelivery skips the batches already sent.
 */
export function sendBatches(
  deps: BatchDeps,
  message: BatchMessage,
  logFor: (one: BatchMessage) => (m: string) => void = () => () => {},
): Promise<SendOutcome[]> {
  return handleTogether(deps, message, splitBatchMessage(message), (together, one, known) =>
    sendBatch(together, one, logFor(one), known),
  );
}

/** What the work a batch does contact by contact before its import is given. */
interface BeforeImport {
  deps: BatchDeps;
  client: ActiveCampaignClient;
  exp: Export;
  again: BatchMessage;
  log: (m: string) => void;
}

/**
 * The work a batch does contact by contact before its import, in this order (docs/design.md, "Contact
 * by contact before an import"): email changes first, since the look-ups and the import must find
 * the contacts under their new email. Each step gives back the batch as stored, `ended` when the run
 * ended, undefined when another delivery holds the batch.
 */
const BEFORE_IMPORT: {
  due: (s: BatchState, exp: Export) => boolean;
  run: (w: BeforeImport, s: BatchState) => Promise<BatchState | 'ended' | undefined>;
}[] = [
  { due: (s) => s.renames > (s.renamesDone ?? 0), run: changeEmails },
  { due: (_, exp) => !SYNC_MODES[exp.mode].createsContacts, run: keepExisting },
  { due: (s) => s.clears > (s.clearsDone ?? 0), run: clearValues },
  { due: (s) => s.untags > (s.untagsDone ?? 0), run: untagLeavers },
];

const heldByAnother = (s: BatchState, claimId: string) =>
  s.status === 'sending' && s.claimId !== claimId && (s.claimedUntil ?? 0) > Date.now();

/**
 * Takes the batch for this delivery for `ttlInMs` (or renews its own claim), ETag-conditional so
 * that two deliveries cannot both take it; undefined when another delivery holds it.
 */
async function claim(
  deps: BatchDeps,
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
  deps: BatchDeps,
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
  let marked: boolean | undefined;
  // Once the budget grants the request (which may take seconds) the batch is marked as posting,
  // and then the run's status is read: a run that ends from now on waits for this post, and one
  // that ended already stops it, so nothing is sent after a cancellation was answered.
  const gated = client.withGate(async () => {
    const claimed = await claim(deps, known, claimId, postClaimTtlInMs(deps), { postingAt: Date.now() });
    if (!claimed) throw new ClaimHeldError(`Batch ${batch} of run ${runId} is being sent by another delivery`);
    known = claimed;
    marked = true;
    const current = await deps.runs.getRun(exportId, runId);
    if (!current || TERMINAL_STATUSES.has(current.status))
      throw new RunEndedError(`Run ${runId} ended before batch ${batch} was sent`);
  });
  for (let round = 0; ; round++) {
    if (contacts.length === 0) {
      await completeBatch(deps, exportId, runId, batch, { status: 'completed', upserted: 0, unsubscribed: 0 });
      return 'completed';
    }
    try {
      let batchId: string;
      const unsubscribes = contacts.filter((c) => c.unsubscribe?.length).length;
      marked = false;
      try {
        batchId = (await gated.bulkImport(contacts, { excludeAutomations: !exp.runAutomations })).batchId;
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
                  postedUnsubscribes: unsubscribes,
                  postedUpserts: contacts!.length - unsubscribes,
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
      await deps.queues.importCheck({ exportId, runId, batch, importId: batchId }, deps.config.importPollIntervalInMs);
      deps.telemetry.metric(TELEMETRY.metrics.contactsSent, contacts.length, {
        exportId,
        runId,
        hostname: connection.hostname,
      });
      log(`Batch ${batch} of run ${runId}: import ${batchId} queued with ${contacts.length} contact(s)`);
      return 'submitted';
    } catch (error) {
      if (!(error instanceof ValidationError) || round >= FAILURE_LIMITS.validationRounds) throw error;
      // The importer refuses the whole request: drop exactly the contacts it named, resend the rest.
      const named = new Map(error.failures.filter((f) => f.index < contacts!.length).map((f) => [f.index, f.reason]));
      if (named.size === 0) throw error;
      const refused = [...named].map(([index, reason]) => ({
        email: contacts![index].email,
        reason: `ActiveCampaign: ${reason}`,
      }));
      known = await recordRejected(deps, exportId, known, refused);
      contacts = contacts.filter((_, i) => !named.has(i));
      // The payload blob keeps what is sent, so the import checker tallies the right contacts.
      await deps.runFiles.writeBatch(runId, batch, contacts);
      log(
        `Batch ${batch} of run ${runId}: ActiveCampaign rejected ${named.size} contact(s); resending ${contacts.length}`,
      );
    }
  }
}

/** The post is over (it failed): a run that ends no longer needs to wait for it. Best effort. */
async function clearPosting(
  deps: BatchDeps,
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
 * After posts whose answers were lost, each contact is looked up instead of another post: one on
 * the list (an unsubscribe: unsubscribed from it) arrived; one that is not is known not to have
 * arrived and counts as failed (the next run sends it again).
 */
async function verifyArrival(
  deps: BatchDeps,
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
    if (i > 0 && i % LOOKUPS_PER_CLAIM === 0 && !(await claim(deps, state, claimId, lookupClaimTtlInMs(deps))))
      return 'skipped';
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
    `Batch ${batch} of run ${runId}: looked up after lost answers: ${upserted + unsubscribed} arrived, ${missing.length} did not`,
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

/**
 * Update-only mode: each contact is looked up before the batch is posted (the importer creates what
 * it does not find), chunk by chunk like the other work before an import; the emails not found are
 * kept in their own file (the changes CSV and the export's state read it), then taken out of the
 * payload and counted.
 */
async function keepExisting(
  { deps, client, again, log }: BeforeImport,
  state: BatchState,
): Promise<BatchState | 'ended' | undefined> {
  const { runId, batch } = state;
  const claimId = again.claimId!;
  const contacts = await deps.runFiles.readBatch(runId, batch);
  if (!contacts) return undefined;
  const looked = await inChunks(deps, state, again, {
    // Once the payload was filtered it is shorter than the look-ups recorded: nothing is left to do.
    total: contacts.length,
    done: (s) => s.lookedUp ?? 0,
    chunk: async (start, end) => {
      const missing: string[] = [];
      for (const c of contacts.slice(start, end)) {
        if (c.unsubscribe?.length) continue;
        const found = await client.findContacts(c.email, {}, { patienceInMs: 0 });
        if (found.length === 0) missing.push(c.email);
      }
      // The emails first: a delivery that dies before the count moves looks these up again, harmlessly.
      await deps.runFiles.addNotInActiveCampaign(runId, batch, missing);
      return (s) => ({ ...s, lookedUp: end });
    },
  });
  if (looked === 'ended' || !looked) return looked;
  const missing = new Set(await deps.runFiles.readNotInActiveCampaign(runId, batch));
  const kept = contacts.filter((c) => !missing.has(c.email));
  if (kept.length < contacts.length) {
    await deps.runFiles.writeBatch(runId, batch, kept);
    log(`Batch ${batch} of run ${runId}: ${missing.size} contact(s) not in ActiveCampaign, not sent (update only)`);
  }
  if (looked.notInActiveCampaign === missing.size) return looked;
  const counted = await deps.runs.updateBatch(
    runId,
    batch,
    (s) => (s.claimId !== claimId ? undefined : { ...s, notInActiveCampaign: missing.size }),
    looked,
  );
  return counted?.claimId === claimId ? counted : undefined;
}

/**
 * Work a batch does contact by contact before its import (email changes, tag removals):
 * LOOKUPS_PER_CLAIM items at a time, each chunk under the batch's claim, marked as posting once the
 * run's status was read, so that nothing changes in ActiveCampaign after a cancellation was answered
 * (a run that ends waits for the chunk). `chunk` does items [start, end) and returns how the batch
 * records them; a delivery that fails or dies resumes at the first chunk not recorded. Returns the
 * batch as stored, `ended` when the run ended, undefined when another delivery holds the batch.
 */
async function inChunks(
  deps: BatchDeps,
  state: BatchState,
  again: BatchMessage,
  work: {
    total: number;
    done: (s: BatchState) => number;
    chunk: (start: number, end: number, known: BatchState) => Promise<(s: BatchState) => BatchState>;
  },
): Promise<BatchState | 'ended' | undefined> {
  const { exportId, runId, batch } = again;
  const claimId = again.claimId!;
  let known = state;
  while (work.done(known) < work.total) {
    const start = work.done(known);
    const claimed = await claim(deps, known, claimId, lookupClaimTtlInMs(deps), { postingAt: Date.now() });
    if (!claimed) return undefined;
    known = claimed;
    const current = await deps.runs.getRun(exportId, runId);
    if (!current || TERMINAL_STATUSES.has(current.status)) {
      await clearPosting(deps, known, claimId);
      return 'ended';
    }
    let stored: BatchState | undefined;
    try {
      const record = await work.chunk(start, Math.min(work.total, start + LOOKUPS_PER_CLAIM), known);
      stored = await deps.runs.updateBatch(
        runId,
        batch,
        (s) => (s.claimId !== claimId ? undefined : { ...record(s), postingAt: undefined }),
        known,
      );
    } catch (error) {
      // The chunk is over (it failed): a run that ends no longer needs to wait for it.
      await clearPosting(deps, known, claimId);
      throw error;
    }
    if (stored?.claimId !== claimId) return undefined;
    known = stored;
  }
  return known;
}

/**
 * removeTagsWhenLeaving: the export's tags come off each leaver of an untag batch (the contact is
 * looked up, its tags read, and each of the export's removed: ActiveCampaign has no bulk removal).
 * A contact ActiveCampaign refuses goes to the rejected rows with its reason.
 */
async function untagLeavers(
  { deps, client, exp, again }: BeforeImport,
  state: BatchState,
): Promise<BatchState | 'ended' | undefined> {
  const { runId, batch } = state;
  const emails = await deps.runFiles.readUntags(runId, batch);
  const tagIds = new Set<string>();
  for (const tag of exp.tags) for (const id of await client.findTagIds(tag, { patienceInMs: 0 })) tagIds.add(id);
  return inChunks(deps, state, again, {
    total: emails.length,
    done: (s) => s.untagsDone ?? 0,
    chunk: async (start, end) => {
      const refused: { email: string; reason: string }[] = [];
      // The account has none of the tags: nobody has them to lose.
      if (tagIds.size > 0)
        for (const email of emails.slice(start, end)) {
          const reason = await removeTags(client, email, tagIds);
          if (reason) refused.push({ email, reason: `ActiveCampaign: tags not removed: ${reason}` });
        }
      if (refused.length > 0) {
        await writeRejectedRows(deps, exp.id, runId, refused);
        // Named for the changes CSV; an untag batch changes no state, so nothing else reads them.
        await deps.runFiles.addFailedEmails(
          runId,
          batch,
          refused.map((r) => r.email),
        );
      }
      return (s) => ({
        ...s,
        untagsDone: end,
        untagged: s.untagged + (end - start) - refused.length,
        untagFailed: s.untagFailed + refused.length,
      });
    },
  });
}

/**
 * mapping.emptyValues `clear`: contacts the export sent before whose source emptied a value get it
 * emptied in ActiveCampaign too (`PUT /contacts/{id}` with empty values), before the import (which
 * is never sent an empty value). A contact ActiveCampaign does not have is left to the import; one
 * it refuses goes to the rejected rows with its reason, and the run says how many kept their values.
 */
async function clearValues(
  { deps, client, exp, again }: BeforeImport,
  state: BatchState,
): Promise<BatchState | 'ended' | undefined> {
  const { runId, batch } = state;
  const clears = await deps.runFiles.readClears(runId, batch);
  return inChunks(deps, state, again, {
    total: clears.length,
    done: (s) => s.clearsDone ?? 0,
    chunk: async (start, end) => {
      const refused: { email: string; reason: string }[] = [];
      for (const { email, fields } of clears.slice(start, end)) {
        try {
          const [contact] = await client.findContacts(email, {}, { patienceInMs: 0 });
          if (!contact) continue;
          await client.clearContactValues(
            contact.id,
            {
              firstName: fields.includes('firstName'),
              lastName: fields.includes('lastName'),
              phone: fields.includes('phone'),
              fields: fields.filter((f) => /^\d+$/.test(f)).map(Number),
            },
            { patienceInMs: 0 },
          );
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          refused.push({ email, reason: `ActiveCampaign: emptied values not cleared: ${error.message}` });
        }
      }
      if (refused.length > 0) await writeRejectedRows(deps, exp.id, runId, refused);
      return (s) => ({ ...s, clearsDone: end, clearFailed: s.clearFailed + refused.length });
    },
  });
}

/**
 * mapping.identity: before a batch is imported, the contacts whose email changed get the new one in
 * ActiveCampaign (`PUT /contacts/{id}`: the same contact, its lists, history and automations), so
 * that the import updates them instead of creating a second contact. A new email that another
 * contact already has is never merged: that row is rejected, saying so, and the old email stays in
 * the export's state (the next run tries again). An old email ActiveCampaign no longer has is left:
 * the import creates the contact.
 */
async function changeEmails(
  { deps, client, again }: BeforeImport,
  state: BatchState,
): Promise<BatchState | 'ended' | undefined> {
  const { runId, batch } = state;
  const renames = await deps.runFiles.readRenames(runId, batch);
  return inChunks(deps, state, again, {
    total: renames.length,
    done: (s) => s.renamesDone ?? 0,
    chunk: async (start, end, known) => {
      const done: string[] = [];
      const refused: { email: string; reason: string }[] = [];
      let changed = 0;
      for (const { from, to } of renames.slice(start, end)) {
        const outcome = await changeEmail(client, from, to);
        if (outcome === 'changed' || outcome === 'gone') done.push(from);
        if (outcome === 'changed') changed++;
        else if (outcome !== 'gone') refused.push({ email: to, reason: outcome.refused });
      }
      // The old emails of changes done leave the state at the run's end; refused rows leave the payload.
      await deps.runFiles.addRenamed(runId, batch, done);
      if (refused.length > 0) {
        const named = new Set(refused.map((r) => r.email));
        const contacts = (await deps.runFiles.readBatch(runId, batch)) ?? [];
        await deps.runFiles.writeBatch(
          runId,
          batch,
          contacts.filter((c) => !named.has(c.email)),
        );
        await recordRejected(deps, again.exportId, known, refused);
      }
      return (s) => ({ ...s, renamesDone: end, emailChanged: s.emailChanged + changed });
    },
  });
}

/** One email change: done, nothing to change (ActiveCampaign has no contact with the old email), or refused. */
async function changeEmail(
  client: ActiveCampaignClient,
  from: string,
  to: string,
): Promise<'changed' | 'gone' | { refused: string }> {
  const [contact] = await client.findContacts(from, {}, { patienceInMs: 0 });
  if (!contact) return 'gone';
  const [other] = await client.findContacts(to, {}, { patienceInMs: 0 });
  if (other && other.id !== contact.id)
    return {
      refused: `the new email belongs to another ActiveCampaign contact (id ${other.id}); the contacts were not merged: merge them in ActiveCampaign, or correct the email in the source`,
    };
  try {
    return (await client.changeContactEmail(contact.id, to, { patienceInMs: 0 })) ? 'changed' : 'gone';
  } catch (error) {
    if (error instanceof ValidationError) return { refused: `ActiveCampaign refused the new email: ${error.message}` };
    throw error;
  }
}

/**
 * Removes the tags `tagIds` from the contact with this email, if ActiveCampaign has it; a reason
 * when ActiveCampaign refuses. Safe to repeat (a tag already gone is not there to remove).
 */
async function removeTags(client: ActiveCampaignClient, email: string, tagIds: ReadonlySet<string>) {
  try {
    for (const contact of await client.findContacts(email, {}, { patienceInMs: 0 }))
      for (const t of await client.getContactTags(contact.id, { patienceInMs: 0 }))
        if (tagIds.has(t.tag)) await client.removeContactTag(t.id, { patienceInMs: 0 });
    return undefined;
  } catch (error) {
    if (error instanceof ActiveCampaignNotFoundError) return undefined; // deleted meanwhile: no tags to lose
    if (error instanceof ValidationError) return error.message;
    throw error;
  }
}

/** Carries out what failurePolicy.ts decides about a failed delivery. */
async function handleFailure(
  deps: BatchDeps,
  connection: Connection,
  again: BatchMessage,
  error: unknown,
  log: (m: string) => void,
): Promise<SendOutcome> {
  const { exportId, runId, batch } = again;
  const reason = (error as Error).message;
  const decision = decideFailure(error, {
    work: 'send',
    tries: again,
    resubmits: 0,
    timing: engineTiming(deps.config),
  });
  switch (decision.action) {
    case 'leave':
      log(reason);
      return 'skipped';
    case 'retry':
      await deps.queues.batches({ ...again, ...decision.tries }, decision.delayInMs);
      if (decision.why === 'throttled') reportThrottled(deps, { exportId, runId }, decision.delayInMs, error);
      if (decision.why === 'failed')
        deps.telemetry.metric(TELEMETRY.metrics.batchRetries, 1, { exportId, runId, attempt: decision.tries.attempt });
      if (decision.why !== 'budget')
        log(
          `Batch ${batch} of run ${runId} ${decision.why}; back on the queue in ${decision.delayInMs} ms (${reason})`,
        );
      return 'deferred';
    case 'awaitLostAnswer':
      await deps.runs.updateBatch(runId, batch, (s) =>
        s.claimId !== again.claimId ? undefined : { ...s, uncertainPosts: s.uncertainPosts + 1, error: reason },
      );
      await deps.queues.batches(again, decision.delayInMs);
      log(
        `Batch ${batch} of run ${runId}: no answer to the post (${reason}); it may have arrived, so nothing is sent again for ${decision.delayInMs / 1000} s`,
      );
      return 'deferred';
    case 'endBatch':
      await completeBatch(deps, exportId, runId, batch, wholeBatch(decision.status, decision.rest, decision.reason));
      log(`Batch ${batch} of run ${runId} ${decision.status}: ${decision.reason}`);
      return decision.status;
    case 'endRun':
      if (decision.batch)
        await completeBatch(
          deps,
          exportId,
          runId,
          batch,
          wholeBatch('failed', decision.batch.rest, decision.batch.reason),
        );
      await endRun(deps, exportId, runId, 'failed', keyRefusedMessage(connection, error as AuthenticationError), {
        errorCode: decision.errorCode,
      });
      log(`Batch ${batch} of run ${runId}: ${reason}; the run is stopped`);
      return 'failed';
  }
}
