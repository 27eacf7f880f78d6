import { randomBytes } from 'node:crypto';
import type { RemovalConfirmation, Run, RunCounts } from '../model.js';

/**
 * The run engine's model: a run as stored (the API's run and the engine's bookkeeping), its
 * batches, and the errors the run store's contract throws. Pure data: the rules in runs/ and the
 * stores in store/ both read it; it imports neither.
 */

/** Another run of the export holds its lease. */
export class RunActiveError extends Error {
  override readonly name = 'RunActiveError';
  constructor(readonly runId: string) {
    super(`Run ${runId} of this export is still active`);
  }
}

/** Someone is editing the export: a run must not start on settings that are about to change. */
export class ExportBeingEditedError extends Error {
  override readonly name = 'ExportBeingEditedError';
}

/** What the planner counted of the rows it read before any batch was sent. */
export type PlannedCounts = Pick<RunCounts, 'read' | 'rejected' | 'duplicate' | 'unchanged'>;

/** What the planner found, kept as it wrote it: the run's counts are derived from it and the batches. */
export interface PlanSummary extends PlannedCounts {
  batches: number;
  /** Queue messages of the plan (a few batches each) and how many were enqueued so far. */
  messages: number;
  enqueued: number;
  /** Planner rejections by reason. */
  rejectedReasons: Record<string, number>;
}

/** A run as stored: the API's run plus the engine's own bookkeeping. */
export interface RunRecord extends Run {
  plan?: PlanSummary;
  /** The removals this run may make beyond the guard (confirmRemovals), exactly as they were shown. */
  confirmation?: RemovalConfirmation;
  /** The one watcher message chain that may look after the run (a re-armed watcher gets a new id). */
  watchId?: string;
  /** When a batch last reached its outcome (the watcher sends stuck batches again after a while). */
  batchProgressAt?: string;
}

/**
 * What a run does to a contact of its plan (the run's changes CSV): new to the export, sent again,
 * taken off the list, put back on it, its export tags removed (it left the segment), the same person
 * under a new email (mapping.identity).
 */
export type ContactChange = 'added' | 'updated' | 'unsubscribed' | 'resubscribed' | 'untagged' | 'emailChanged';

export type BatchStatus = 'pending' | 'sending' | 'submitted' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL_BATCH: ReadonlySet<BatchStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface BatchState {
  runId: string;
  batch: number;
  status: BatchStatus;
  /** Contacts planned into the batch; how many are unsubscribes (mirror mode) and returners to re-subscribe. */
  contacts: number;
  unsubscribes: number;
  resubscribes: number;
  /** ActiveCampaign's batchId of the accepted import. */
  importId?: string;
  /**
   * What the accepted import held: upserts and unsubscribes (the payload less what was taken out before it). An
   * import that completes without failures is counted from these, without reading its payload again.
   */
  postedUpserts?: number;
  postedUnsubscribes?: number;
  /** The delivery that is sending the batch, and until when its claim holds (ms since epoch). */
  claimId?: string;
  claimedUntil?: number;
  /** Set (ms since epoch) just before the run's last check ahead of a post, cleared when the post is over. */
  postingAt?: number;
  /** Failed attempts (not throttling), resubmissions after failed imports, posts whose answer was lost. */
  attempts: number;
  resubmits: number;
  uncertainPosts: number;
  rejected: number;
  upserted: number;
  unsubscribed: number;
  failed: number;
  /** Upserts whose outcome is not known (posted, answers lost), and those never sent (the run ended first). */
  unknown: number;
  notSent: number;
  /**
   * Update-only mode: contacts looked up so far (in payload order; the lookups resume there) and
   * how many of them ActiveCampaign does not have (taken out of the payload, never sent).
   */
  lookedUp?: number;
  notInActiveCampaign: number;
  /**
   * removeTagsWhenLeaving: leavers in the batch whose export tags are to be removed (an untag batch
   * has no import contacts), how many were handled so far (they resume there), how many lost at
   * least one tag, and how many could not be handled (the rejected rows say why).
   */
  untags: number;
  untagsDone?: number;
  untagged: number;
  untagFailed: number;
  /**
   * mapping.identity: contacts of the batch whose email changes first (the same ActiveCampaign
   * contact gets the new one), how many were handled so far, and how many emails were changed.
   */
  renames: number;
  renamesDone?: number;
  emailChanged: number;
  /**
   * mapping.emptyValues `clear`: contacts whose emptied values are cleared before the import, how
   * many were handled, and how many ActiveCampaign refused (the rejected rows say why).
   */
  clears: number;
  clearsDone?: number;
  clearFailed: number;
  error?: string;
  /** ActiveCampaign's reasons for the contacts it rejected, with how many each. */
  rejectedReasons?: Record<string, number>;
  /** The entity's ETag when read, so that an update can skip reading it again. */
  etag?: string;
  /** Storage: the batch was written under its run's partition, before each batch had its own (store/runStore.ts). */
  inRunPartition?: true;
}

/** A batch as the planner writes it: nothing tried, nothing counted yet. */
export function pendingBatch(
  runId: string,
  batch: number,
  contacts: number,
  extra: Partial<BatchState> = {},
): BatchState {
  return {
    runId,
    batch,
    status: 'pending',
    contacts,
    unsubscribes: 0,
    resubscribes: 0,
    attempts: 0,
    resubmits: 0,
    uncertainPosts: 0,
    rejected: 0,
    upserted: 0,
    unsubscribed: 0,
    failed: 0,
    unknown: 0,
    notSent: 0,
    notInActiveCampaign: 0,
    untags: 0,
    untagged: 0,
    untagFailed: 0,
    renames: 0,
    emailChanged: 0,
    clears: 0,
    clearFailed: 0,
    ...extra,
  };
}

/** Where a batch's upserts without an outcome go when it ends whole (see model.ts for the counts). */
export type Unaccounted = 'failed' | 'unknown' | 'notSent';

/** Newest first in Table order, and readable: inverted milliseconds plus randomness. */
export function newRunId(now = Date.now()): string {
  return `${(9_999_999_999_999 - now).toString().padStart(13, '0')}${randomBytes(4).toString('hex')}`;
}

const RUN_ID = /^\d{13}[0-9a-f]{8}$/;
/** Whether a string can be a run id (anything else is refused before it reaches a table key). */
export const isRunId = (value: string) => RUN_ID.test(value);

/** mapping.identity: a contact whose email changes from `from` to `to` before its batch is imported. */
export interface Rename {
  from: string;
  to: string;
}

/** mapping.emptyValues `clear`: a contact and its fields to empty (firstName, lastName, phone, custom field ids). */
export interface ValuesToClear {
  email: string;
  fields: string[];
}

/** A contact this export unsubscribed earlier that is back in the segment, and when it was unsubscribed. */
export interface Returner {
  email: string;
  unsubscribedAt: number;
}

/** A row of a run's rejected rows (the planner's, and contacts ActiveCampaign refused: file "ActiveCampaign"). */
export interface RejectedRow {
  file: string;
  row: number | '';
  email: string;
  reason: string;
}

/** A run id starts with its start time, inverted (newest first): the time it stands for. */
export const runStartedAt = (runId: string) => 9_999_999_999_999 - Number(runId.slice(0, 13));

/** The run as the API shows it: without the engine's bookkeeping. */
export function publicRun(run: RunRecord): Run {
  const {
    plan: _plan,
    watchId: _watchId,
    batchProgressAt: _batchProgressAt,
    confirmation: _confirmation,
    ...rest
  } = run;
  for (const key of Object.keys(rest) as (keyof Run)[]) if (rest[key] === undefined) delete rest[key];
  return rest;
}
