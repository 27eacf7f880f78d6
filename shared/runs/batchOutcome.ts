import type { AuthenticationError } from '../activecampaign/errors.js';
import type { Connection, Export } from '../model.js';
import { TELEMETRY } from '../telemetry.js';
import type { EngineDeps } from './ports.js';
import { unconfirmedUpserts } from './runCounts.js';
import { endRun, settleEndedRun, type LifecycleDeps } from './runLifecycle.js';
import { TERMINAL_BATCH, type BatchState, type Unaccounted } from './runModel.js';
import type { BatchMessage } from './runQueues.js';

/**
 * What the workers of a run's batches share (the send worker, the import checker, the poison
 * handlers): loading what a batch's work needs, and every write of a batch's outcome.
 */
export type BatchDeps = LifecycleDeps & Pick<EngineDeps, 'exports' | 'connections' | 'activeCampaign'>;

/** A batch whose last post is not known to be accepted: what an import held is read from its payload. */
const NOT_POSTED = { importId: undefined, postedUpserts: undefined, postedUnsubscribes: undefined };

/**
 * The export and connection a batch's work needs. When either is gone the run ends (unless it has
 * already: an accepted import of an ended run is left alone) and `gone` says which.
 */
export async function loadTarget(
  deps: BatchDeps,
  exportId: string,
  runId: string,
  runEnded: boolean,
): Promise<{ exp: Export; connection: Connection } | { gone: 'export' | 'connection' }> {
  const exp = await deps.exports.getCached(exportId);
  if (!exp) {
    if (!runEnded) await endRun(deps, exportId, runId, 'cancelled', 'The export was deleted');
    return { gone: 'export' };
  }
  const connection = await deps.connections.getCached(exp.connectionId);
  if (!connection) {
    if (!runEnded) await connectionGone(deps, exp, runId);
    return { gone: 'connection' };
  }
  return { exp, connection };
}

/**
 * A message whose predecessor posted the batch and could not record the answer (storage failed)
 * carries the import and its claim: the import is recorded and checked, never posted again.
 * Returns false when the message carries none, or the batch moved on since.
 */
export async function recordAcceptedImport(
  deps: Pick<EngineDeps, 'runs' | 'queues' | 'config'>,
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
        : {
            ...s,
            ...NOT_POSTED,
            status: 'submitted',
            importId,
            claimId: undefined,
            claimedUntil: undefined,
            postingAt: undefined,
          },
    state,
  );
  await deps.queues.importCheck({ exportId, runId, batch, importId }, deps.config.importPollIntervalInMs);
  return true;
}

/**
 * Turns a batch back to `pending` so that the send worker takes it again: `resubmit` (a new post),
 * or `verify` (its contacts are looked up, never posted again). Only from the state `expected`
 * allows; returns whether it turned.
 */
export async function reopenBatch(
  deps: Pick<EngineDeps, 'runs' | 'queues'>,
  message: { exportId: string; runId: string; batch: number },
  how: 'resubmit' | 'verify',
  reason: string,
  expected: (s: BatchState) => boolean,
  options: { known?: BatchState; delayInMs?: number; uncertainPosts?: number } = {},
): Promise<boolean> {
  const { exportId, runId, batch } = message;
  const updated = await deps.runs.updateBatch(
    runId,
    batch,
    (s) =>
      !expected(s)
        ? undefined
        : how === 'resubmit'
          ? { ...s, ...NOT_POSTED, status: 'pending', resubmits: s.resubmits + 1, error: reason }
          : {
              ...s,
              ...NOT_POSTED,
              status: 'pending',
              importId: s.importId,
              uncertainPosts: options.uncertainPosts ?? s.uncertainPosts,
              error: reason,
            },
    options.known,
  );
  if (updated?.status !== 'pending') return false;
  await deps.queues.batches({ exportId, runId, batch }, options.delayInMs);
  return true;
}

export interface BatchOutcome {
  status: 'completed' | 'failed' | 'cancelled';
  upserted: number;
  unsubscribed: number;
  failed?: number;
  /** Upserts not sent (a returner the run did not re-subscribe because it had ended). */
  notSent?: number;
  /** Every upsert of the batch not otherwise accounted for goes to this count (a batch that ends whole). */
  rest?: Unaccounted;
  error?: string;
  /** Contacts rejected at the last moment, counted with the outcome in the same write. */
  rejected?: { count: number; reason: string };
}

/** A batch that ends whole, with nothing confirmed: its upserts go to `rest`. */
export const wholeBatch = (status: BatchOutcome['status'], rest: Unaccounted, error: string): BatchOutcome => ({
  status,
  upserted: 0,
  unsubscribed: 0,
  rest,
  error,
});

/**
 * Records a batch's terminal outcome once (a redelivered message finds it already terminal; with
 * `checkClaim`, only while that delivery still holds the batch). Only the batch's own entity is
 * written: the run watcher adds batches up, so a thousand workers never contend for the run's entity.
 * A batch that ends whole after a post whose answer was lost never says `failed` or `notSent` for
 * contacts that may have arrived: they are `unknown`.
 */
export async function completeBatch(
  deps: Pick<EngineDeps, 'runs' | 'telemetry'>,
  exportId: string,
  runId: string,
  batch: number,
  outcome: BatchOutcome,
  known?: BatchState,
  options: { checkClaim?: string } = {},
): Promise<BatchState | undefined> {
  let recorded: BatchState | undefined;
  await deps.runs.updateBatch(
    runId,
    batch,
    (s) => {
      // Called again after a conflict, with what the other writer left: decide afresh.
      recorded = undefined;
      if (TERMINAL_BATCH.has(s.status)) return undefined;
      if (options.checkClaim && s.claimId !== options.checkClaim) return undefined;
      const { rejected, rest, ...counted } = outcome;
      const withRejected = rejected
        ? {
            ...s,
            rejected: s.rejected + rejected.count,
            rejectedReasons: addReason(s.rejectedReasons, rejected.reason, rejected.count),
          }
        : s;
      const unaccounted: Unaccounted | undefined = rest && s.uncertainPosts > 0 ? 'unknown' : rest;
      const remaining = unaccounted
        ? unconfirmedUpserts(withRejected) - counted.upserted - (counted.failed ?? 0) - (counted.notSent ?? 0)
        : 0;
      recorded = {
        ...withRejected,
        ...counted,
        failed: (counted.failed ?? 0) + (unaccounted === 'failed' ? remaining : 0),
        unknown: unaccounted === 'unknown' ? remaining : 0,
        notSent: (counted.notSent ?? 0) + (unaccounted === 'notSent' ? remaining : 0),
        claimId: undefined,
        claimedUntil: undefined,
        postingAt: undefined,
      };
      return recorded;
    },
    known,
  );
  if (recorded && recorded.failed > 0)
    deps.telemetry.metric(TELEMETRY.metrics.failedContacts, recorded.failed, { exportId, runId });
  return recorded;
}

/** The run ended before the batch was sent: its contacts were not sent (or, after a lost answer, are not known). */
export async function runEnded(
  deps: Pick<EngineDeps, 'runs' | 'runFiles' | 'telemetry'>,
  exportId: string,
  runId: string,
  state: BatchState,
): Promise<void> {
  await completeBatch(
    deps,
    exportId,
    runId,
    state.batch,
    wholeBatch('cancelled', 'notSent', 'The run ended before the batch was sent'),
    state,
  );
  // An accepted import whose check gave up: its files were kept for the check, and go now.
  if (state.importId) await settleEndedRun(deps, exportId, runId, state.batch);
}

/** A batch or its check waits for ActiveCampaign's rate limit: the metric the workbook charts. */
export function reportThrottled(
  deps: Pick<EngineDeps, 'telemetry'>,
  ids: { exportId: string; runId: string },
  delayInMs: number,
  error: unknown,
): void {
  deps.telemetry.metric(TELEMETRY.metrics.rateLimitWaits, 1, {
    exportId: ids.exportId,
    runId: ids.runId,
    delayMs: delayInMs,
    reason: (error as Error).name,
  });
}

/** The export's connection is gone (deleted outside the app): the run cannot go on. */
export async function connectionGone(deps: LifecycleDeps, exp: Export, runId: string): Promise<void> {
  await endRun(
    deps,
    exp.id,
    runId,
    'failed',
    `The connection ${exp.connectionId} of this export no longer exists: edit the export to use another connection`,
    { errorCode: 'ConnectionMissing' },
  );
}

/** What a run that ActiveCampaign refused the key of says to its owner. */
export function keyRefusedMessage(
  connection: Pick<Connection, 'id' | 'displayName' | 'hostname'>,
  error: AuthenticationError,
): string {
  return (
    `ActiveCampaign refused the API key of connection "${connection.displayName}" (${connection.hostname}${error.status ? `, ${error.status}` : ''}); nothing more was sent. ` +
    `Replace the key (console: Connections → Replace key; API: PATCH /api/connections/${connection.id} {"apiKey": …}) and run the export again.`
  );
}

/**
 * Records contacts ActiveCampaign rejected (at a post's validation or later): rows in the run's
 * rejected rows, their emails as failed (left out of the export's state), the batch's count and
 * reasons. Returns the batch as stored.
 */
export async function recordRejected(
  deps: Pick<EngineDeps, 'runs' | 'runFiles'>,
  exportId: string,
  state: BatchState,
  refused: { email: string; reason: string }[],
): Promise<BatchState> {
  const { runId, batch } = state;
  await writeRejectedRows(deps, exportId, runId, refused);
  await deps.runFiles.addFailedEmails(
    runId,
    batch,
    refused.map((r) => r.email),
  );
  return (
    (await deps.runs.updateBatch(
      runId,
      batch,
      (s) => {
        let reasons = s.rejectedReasons;
        for (const r of refused) reasons = addReason(reasons, r.reason, 1);
        return { ...s, rejected: s.rejected + refused.length, rejectedReasons: reasons };
      },
      state,
    )) ?? state
  );
}

/** Appends rows to the run's rejected rows (file "ActiveCampaign") and names the file on the run. */
export async function writeRejectedRows(
  deps: Pick<EngineDeps, 'runs' | 'runFiles'>,
  exportId: string,
  runId: string,
  refused: { email: string; reason: string }[],
): Promise<void> {
  const writer = await deps.runFiles.rejectedRows(runId);
  for (const r of refused) await writer.add({ file: 'ActiveCampaign', row: '', email: r.email, reason: r.reason });
  await writer.flush();
  await deps.runs.updateRun(exportId, runId, (r) =>
    r.rejectedRows ? undefined : { ...r, rejectedRows: deps.runFiles.rejectedPath(runId) },
  );
}

/** Reason → count, at most ten reasons (the rest under "other"); long reasons shortened. */
function addReason(reasons: Record<string, number> | undefined, reason: string, count: number): Record<string, number> {
  const out = { ...(reasons ?? {}) };
  const key = reason.length > 120 ? `${reason.slice(0, 120)}…` : reason;
  const slot = key in out || Object.keys(out).length < 10 ? key : 'other';
  out[slot] = (out[slot] ?? 0) + count;
  return out;
}
