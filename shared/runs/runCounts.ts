import { emptyCounts, type RunCounts, type RunReason, type RunStatus } from '../model.js';
import { TERMINAL_BATCH, type BatchState, type PlanSummary } from './runModel.js';

/**
 * The run's counts and outcome as pure rules. The planner's summary is kept as it wrote it, each
 * batch records its own outcome, and everything the run shows is derived from the two here.
 * At a terminal status every row read is accounted for (model.ts: accountedRows).
 */

/** Contacts of a batch that were to be upserted and are not yet accounted for (a batch's "unconfirmed"). */
export function unconfirmedUpserts(
  b: Pick<BatchState, 'contacts' | 'rejected' | 'unsubscribes'> & Partial<Pick<BatchState, 'notInActiveCampaign'>>,
): number {
  return Math.max(0, b.contacts - b.rejected - b.unsubscribes - (b.notInActiveCampaign ?? 0));
}

export interface BatchSums {
  batches: number;
  terminal: number;
  /** Outcomes of terminal batches. */
  upserted: number;
  unsubscribed: number;
  failed: number;
  unknown: number;
  notSent: number;
  /** Update-only: contacts looked up and not found (in any batch: recorded when they are dropped). */
  notInActiveCampaign: number;
  /** removeTagsWhenLeaving: leavers that lost the export's tags, and those whose removal failed. */
  untagged: number;
  untagFailed: number;
  /** mapping.identity: emails changed in ActiveCampaign (the same contact, its new email). */
  emailChanged: number;
  /** mapping.emptyValues `clear`: contacts whose emptied values were not cleared. */
  clearFailed: number;
  /** Unsubscribes of terminal batches that did not take effect (the next run tries again). */
  unsubscribesFailed: number;
  /** Contacts ActiveCampaign rejected, in any batch (recorded when they are dropped). */
  rejected: number;
  /**
   * Upserts of batches that have no outcome yet: posted or being checked (their outcome may still come), and never
   * posted.
   */
  open: { posted: number; unposted: number };
  /** Reason → contacts, of failures and of ActiveCampaign's rejections. */
  failedReasons: Record<string, number>;
  rejectedReasons: Record<string, number>;
}

/**
 * Whether a batch without an outcome may have reached ActiveCampaign: an accepted import being
 * checked, a post under way, or a post whose answer was lost.
 */
export const mayHaveBeenPosted = (b: Pick<BatchState, 'status' | 'importId' | 'postingAt' | 'uncertainPosts'>) =>
  (b.status === 'submitted' && b.importId !== undefined) || b.postingAt !== undefined || b.uncertainPosts > 0;

export function sumBatches(batches: Iterable<BatchState>): BatchSums {
  const sums: BatchSums = {
    batches: 0,
    terminal: 0,
    upserted: 0,
    unsubscribed: 0,
    failed: 0,
    unknown: 0,
    notSent: 0,
    notInActiveCampaign: 0,
    untagged: 0,
    untagFailed: 0,
    emailChanged: 0,
    clearFailed: 0,
    unsubscribesFailed: 0,
    rejected: 0,
    open: { posted: 0, unposted: 0 },
    failedReasons: {},
    rejectedReasons: {},
  };
  for (const b of batches) {
    sums.batches++;
    sums.rejected += b.rejected;
    sums.notInActiveCampaign += b.notInActiveCampaign ?? 0;
    sums.untagged += b.untagged ?? 0;
    addReasons(sums.rejectedReasons, b.rejectedReasons ?? {});
    if (!TERMINAL_BATCH.has(b.status)) {
      sums.open[mayHaveBeenPosted(b) ? 'posted' : 'unposted'] += unconfirmedUpserts(b);
      continue;
    }
    sums.terminal++;
    sums.upserted += b.upserted;
    sums.unsubscribed += b.unsubscribed;
    sums.failed += b.failed;
    sums.unknown += b.unknown;
    sums.notSent += b.notSent;
    sums.emailChanged += b.emailChanged ?? 0;
    sums.clearFailed +=
      (b.clearFailed ?? 0) + (b.status === 'completed' ? 0 : Math.max(0, (b.clears ?? 0) - (b.clearsDone ?? 0)));
    // Leavers a batch ended without reaching (it failed, or its run ended) keep their tags.
    sums.untagFailed += (b.untagFailed ?? 0) + Math.max(0, (b.untags ?? 0) - (b.untagsDone ?? 0));
    const lostUnsubscribes = Math.max(0, b.unsubscribes - b.unsubscribed);
    sums.unsubscribesFailed += lostUnsubscribes;
    if (b.failed + b.unknown + lostUnsubscribes > 0)
      addReasons(sums.failedReasons, { [b.error ?? 'not sent']: b.failed + b.unknown + lostUnsubscribes });
  }
  return sums;
}

function addReasons(into: Record<string, number>, from: Record<string, number>): void {
  for (const [reason, n] of Object.entries(from)) into[reason] = (into[reason] ?? 0) + n;
}

/**
 * The run's counts. `final`: the run has ended (or is ending now), so batches without an outcome
 * are counted by what is known of them: one that may have been posted is `unknown` (an accepted
 * import goes on being checked after a cancel, and its outcome replaces this when it comes), one
 * never posted is `notSent`. While the run sends they are simply not counted yet.
 */
export function runCounts(plan: PlanSummary, sums: BatchSums, final: boolean): RunCounts {
  return {
    ...emptyCounts(),
    read: plan.read,
    duplicate: plan.duplicate,
    unchanged: plan.unchanged,
    rejected: plan.rejected + sums.rejected,
    upserted: sums.upserted,
    unsubscribed: sums.unsubscribed,
    failed: sums.failed,
    unknown: sums.unknown + (final ? sums.open.posted : 0),
    notSent: sums.notSent + (final ? sums.open.unposted : 0),
    notInActiveCampaign: sums.notInActiveCampaign,
    untagged: sums.untagged,
    emailChanged: sums.emailChanged,
  };
}

/** Reasons, commonest first: rejections (planner's and ActiveCampaign's) and failures. */
export function runReasons(plan: PlanSummary, sums: BatchSums, limit = 10): RunReason[] {
  const reasons: RunReason[] = [];
  const rejected: Record<string, number> = { ...plan.rejectedReasons };
  addReasons(rejected, sums.rejectedReasons);
  for (const [reason, count] of Object.entries(rejected)) reasons.push({ kind: 'rejected', reason, count });
  for (const [reason, count] of Object.entries(sums.failedReasons)) reasons.push({ kind: 'failed', reason, count });
  return reasons.sort((a, b) => b.count - a.count).slice(0, limit);
}

/**
 * How a run that sent everything it could ends. A run that achieved nothing is `failed`, with its
 * commonest reason: every contact it tried to send failed, or every row it read was rejected. A
 * run with rejections, failures or contacts whose arrival is not known is `completedWithErrors`
 * with a summary of them.
 */
export function runOutcome(
  counts: RunCounts,
  reasons: RunReason[],
  sums: Pick<BatchSums, 'unsubscribesFailed'> & Partial<Pick<BatchSums, 'untagFailed' | 'clearFailed'>>,
): { status: RunStatus; error?: string } {
  const commonest = (kind: RunReason['kind']) => reasons.find((r) => r.kind === kind);
  const distinct = counts.read - counts.duplicate;
  if (counts.failed > 0 && counts.upserted + counts.unsubscribed + counts.unknown === 0) {
    const r = commonest('failed');
    return {
      status: 'failed',
      error: `No contact reached ActiveCampaign: ${counts.failed} failed${r ? `, most with "${r.reason}"` : ''}`,
    };
  }
  if (distinct > 0 && counts.rejected >= distinct && counts.upserted + counts.unsubscribed === 0) {
    const r = commonest('rejected');
    return {
      status: 'failed',
      error: `Every row was rejected${r ? `, most for "${r.reason}"` : ''}: check the data matching (see the rejected rows)`,
    };
  }
  const others = { untagFailed: sums.untagFailed ?? 0, clearFailed: sums.clearFailed ?? 0 };
  if (
    counts.failed > 0 ||
    counts.unknown > 0 ||
    counts.rejected > 0 ||
    sums.unsubscribesFailed > 0 ||
    others.untagFailed > 0 ||
    others.clearFailed > 0
  )
    return { status: 'completedWithErrors', error: summary(counts, reasons, sums.unsubscribesFailed, others) };
  return { status: 'completed' };
}

function summary(
  counts: RunCounts,
  reasons: RunReason[],
  unsubscribesFailed: number,
  { untagFailed, clearFailed }: { untagFailed: number; clearFailed: number },
): string {
  const parts: string[] = [];
  const top = (kind: RunReason['kind']) =>
    reasons
      .filter((r) => r.kind === kind)
      .slice(0, 3)
      .map((r) => `${r.reason} (${r.count})`)
      .join('; ');
  if (counts.failed > 0)
    parts.push(`${counts.failed} contact(s) failed and will be sent again by the next run: ${top('failed')}`);
  if (counts.unknown > 0)
    parts.push(
      `${counts.unknown} contact(s) were sent but ActiveCampaign's answer was lost, so whether they arrived is not known; the next run sends them again`,
    );
  if (unsubscribesFailed > 0)
    parts.push(`${unsubscribesFailed} unsubscribe(s) did not take effect and will be tried again`);
  if (untagFailed > 0)
    parts.push(
      `${untagFailed} contact(s) who left the segment kept the export's tags: the removal failed (see the rejected rows)`,
    );
  if (clearFailed > 0)
    parts.push(
      `${clearFailed} contact(s) kept values the source emptied: clearing them failed (see the rejected rows)`,
    );
  if (counts.rejected > 0) parts.push(`${counts.rejected} row(s) rejected: ${top('rejected')}`);
  return parts.join('. ');
}
