import type { RemovalCheck, RemovalConfirmation } from '../model.js';

/** The share of the contacts an export last sent that a run may unsubscribe without confirmation. */
export const DEFAULT_REMOVAL_GUARD_PERCENT = 10;

/** How long an administrator's review of a guard stop stays good for a confirmation. */
export const CONFIRMATION_TTL_IN_MS = 24 * 3_600_000;

/**
 * Mirror mode's guard against wiping a list: a snapshot that shrank (a half-written export, a
 * broken segment) would unsubscribe most of the list, and ActiveCampaign's importer cannot
 * re-subscribe anyone. A run may unsubscribe at most `limitPercent` % of the contacts the export
 * last sent (rounded down); more stops the run before anything is sent, unless an administrator
 * confirmed exactly these removals: the same snapshot, the same number of unsubscribes of the same
 * number last sent, as the run the guard stopped showed them.
 */
export function checkRemovals(
  found: { snapshotId: string; unsubscribes: number; lastSent: number },
  limitPercent: number,
  confirmation?: RemovalConfirmation,
): RemovalCheck {
  const { unsubscribes, lastSent } = found;
  const allowed = Math.floor((lastSent * limitPercent) / 100);
  const confirmed = confirmation !== undefined && confirmationDifference(confirmation, found) === undefined;
  return { unsubscribes, lastSent, limitPercent, allowed, exceeded: unsubscribes > allowed, confirmed };
}

/** Whether the run must stop: the guard is exceeded and nobody confirmed these removals. */
export const removalsBlocked = (check: RemovalCheck) => check.exceeded && !check.confirmed;

/** How what a run found differs from what was confirmed (undefined: it is exactly that). */
export function confirmationDifference(
  confirmation: RemovalConfirmation,
  found: { snapshotId: string; unsubscribes: number; lastSent: number },
): string | undefined {
  const differences: string[] = [];
  if (confirmation.snapshotId !== found.snapshotId) differences.push('the segment has another snapshot now');
  if (confirmation.unsubscribes !== found.unsubscribes || confirmation.lastSent !== found.lastSent) {
    differences.push(`run ${confirmation.runId} showed ${confirmation.unsubscribes} of ${confirmation.lastSent}`);
  }
  return differences.length > 0 ? differences.join(', and ') : undefined;
}

const share = (check: RemovalCheck) =>
  check.lastSent > 0 ? ` (${((check.unsubscribes * 100) / check.lastSent).toFixed(1)}%)` : '';

/** Why a run stopped at the guard, with its numbers and what a person can do. */
export function removalGuardMessage(
  check: RemovalCheck,
  run: { runId: string; confirmation?: RemovalConfirmation; snapshotId?: string },
): string {
  const found = `this run would unsubscribe ${check.unsubscribes} of the ${check.lastSent} contacts the export last sent${share(check)}`;
  const difference =
    run.confirmation && run.snapshotId
      ? confirmationDifference(run.confirmation, { ...check, snapshotId: run.snapshotId })
      : undefined;
  const opening = difference
    ? `Stopped before sending anything: the removals confirmed from run ${run.confirmation!.runId} are not what this run found (${difference}): ${found}, `
    : `Stopped before sending anything: ${found}, `;
  return (
    `${opening}more than its removal guard allows (${check.limitPercent}%: ${check.allowed}). ActiveCampaign cannot re-subscribe them. ` +
    `Check the segment (a snapshot written only in part shrinks it); if it really shrank, an administrator confirms these removals ` +
    `("Run and confirm removals" in the console, or a run with {"confirmRemovals": "${run.runId}"}) within 24 hours, or raises the export's removalGuardPercent. ` +
    `Until then, scheduled refreshes leave this snapshot alone.`
  );
}
