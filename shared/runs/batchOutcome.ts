import type { AuthenticationError } from '../activecampaign/errors.js';
import type { Connection, Export } from '../model.js';
import type { AppServices } from '../services.js';
import { TERMINAL_BATCH, type BatchState } from '../store/runStore.js';
import { TELEMETRY } from '../telemetry.js';
import { unconfirmedUpserts } from './runCounts.js';
import { endRun, type LifecycleDeps } from './runLifecycle.js';

/** What the workers of a run's batches share (the send worker, the status checker, the poison handlers). */
export type BatchDeps = LifecycleDeps & Pick<AppServices, 'config'>;

export interface BatchOutcome {
  status: 'completed' | 'failed' | 'cancelled';
  upserted: number;
  unsubscribed: number;
  /** Failed upserts; undefined: every upsert not yet accounted for (the batch's unconfirmed contacts). */
  failed: number | undefined;
  error?: string;
  /** Contacts rejected at the last moment, counted with the outcome in the same write. */
  rejected?: { count: number; reason: string };
}

/**
 * Records a batch's terminal outcome once (a redelivered message finds it already terminal; with
 * `checkClaim`, only while that delivery still holds the batch). Only the batch's own entity is
 * written: the run watcher adds batches up, so a thousand workers never contend for the run's entity.
 */
export async function completeBatch(
  deps: Pick<AppServices, 'runs' | 'telemetry'>,
  exportId: string,
  runId: string,
  batch: number,
  outcome: BatchOutcome,
  known?: BatchState,
  options: { checkClaim?: string } = {},
): Promise<BatchState | undefined> {
  let recorded: BatchState | undefined;
  await deps.runs.updateBatch(runId, batch, (s) => {
    // Called again after a conflict, with what the other writer left: decide afresh.
    recorded = undefined;
    if (TERMINAL_BATCH.has(s.status)) return undefined;
    if (options.checkClaim && s.claimId !== options.checkClaim) return undefined;
    const { rejected, ...rest } = outcome;
    const withRejected = rejected ? { ...s, rejected: s.rejected + rejected.count, rejectedReasons: addReason(s.rejectedReasons, rejected.reason, rejected.count) } : s;
    recorded = { ...withRejected, ...rest, failed: outcome.failed ?? unconfirmedUpserts(withRejected), claimId: undefined, claimedUntil: undefined, postingAt: undefined };
    return recorded;
  }, known);
  if (recorded && recorded.failed > 0) deps.telemetry.metric(TELEMETRY.metrics.failedContacts, recorded.failed, { exportId, runId });
  return recorded;
}

/** The run ended while the batch waited: it is cancelled, its contacts without an outcome count as failed. */
export async function runEnded(deps: Pick<AppServices, 'runs' | 'telemetry'>, exportId: string, runId: string, state: BatchState): Promise<void> {
  await completeBatch(deps, exportId, runId, state.batch, { status: 'cancelled', upserted: 0, unsubscribed: 0, failed: undefined, error: 'The run ended before the batch was sent' }, state);
}

/** The export's connection is gone (deleted outside the app): the run cannot go on. */
export async function connectionGone(deps: LifecycleDeps, exp: Export, runId: string): Promise<void> {
  await endRun(deps, exp.id, runId, 'failed', `The connection ${exp.connectionId} of this export no longer exists: edit the export to use another connection`, { errorCode: 'ConnectionMissing' });
}

/** What a run that ActiveCampaign refused the key of says to its owner. */
export function keyRefusedMessage(connection: Pick<Connection, 'id' | 'displayName' | 'hostname'>, error: AuthenticationError): string {
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
export async function recordRejected(deps: Pick<AppServices, 'runs' | 'runFiles'>, exportId: string, state: BatchState, refused: { email: string; reason: string }[]): Promise<BatchState> {
  const { runId, batch } = state;
  await writeRejectedRows(deps, exportId, runId, refused);
  await deps.runFiles.addFailedEmails(runId, batch, refused.map((r) => r.email));
  return (
    (await deps.runs.updateBatch(runId, batch, (s) => {
      let reasons = s.rejectedReasons;
      for (const r of refused) reasons = addReason(reasons, r.reason, 1);
      return { ...s, rejected: s.rejected + refused.length, rejectedReasons: reasons };
    }, state)) ?? state
  );
}

/** Appends rows to the run's rejected rows (file "ActiveCampaign") and names the file on the run. */
export async function writeRejectedRows(deps: Pick<AppServices, 'runs' | 'runFiles'>, exportId: string, runId: string, refused: { email: string; reason: string }[]): Promise<void> {
  const writer = await deps.runFiles.rejectedRows(runId);
  for (const r of refused) await writer.add({ file: 'ActiveCampaign', row: '', email: r.email, reason: r.reason });
  await writer.flush();
  await deps.runs.updateRun(exportId, runId, (r) => (r.rejectedRows ? undefined : { ...r, rejectedRows: deps.runFiles.rejectedPath(runId) }));
}

/** Reason → count, at most ten reasons (the rest under "other"); long reasons shortened. */
function addReason(reasons: Record<string, number> | undefined, reason: string, count: number): Record<string, number> {
  const out = { ...(reasons ?? {}) };
  const key = reason.length > 120 ? `${reason.slice(0, 120)}…` : reason;
  const slot = key in out || Object.keys(out).length < 10 ? key : 'other';
  out[slot] = (out[slot] ?? 0) + count;
  return out;
}
