import type { RemovalCheck } from '../model.js';

/** The share of the contacts an export last sent that a run may unsubscribe without confirmation. */
export const DEFAULT_REMOVAL_GUARD_PERCENT = 10;

/**
 * Mirror mode's guard against wiping a list: a snapshot that shrank (a half-written export, a
 * broken segment) would unsubscribe most of the list, and ActiveCampaign's importer cannot
 * re-subscribe anyone. A run may unsubscribe at most `limitPercent` % of the contacts the export
 * last sent (rounded down); more stops the run before anything is sent, unless an on-demand run
 * confirmed the removals.
 */
export function checkRemovals(unsubscribes: number, lastSent: number, limitPercent: number, confirmed: boolean): RemovalCheck {
  const allowed = Math.floor((lastSent * limitPercent) / 100);
  return { unsubscribes, lastSent, limitPercent, allowed, exceeded: unsubscribes > allowed, confirmed };
}

/** Whether the run must stop: the guard is exceeded and nobody confirmed. */
export const removalsBlocked = (check: RemovalCheck) => check.exceeded && !check.confirmed;

export function removalGuardMessage(check: RemovalCheck): string {
  const share = check.lastSent > 0 ? ` (${((check.unsubscribes * 100) / check.lastSent).toFixed(1)}%)` : '';
  return (
    `Stopped before sending anything: this run would unsubscribe ${check.unsubscribes} of the ${check.lastSent} contacts the export last sent${share}, ` +
    `more than its removal guard allows (${check.limitPercent}%: ${check.allowed}). ActiveCampaign cannot re-subscribe them. ` +
    `Check the segment (a snapshot written only in part shrinks it); if it really shrank, start a run with confirmRemovals: true ` +
    `("Run and confirm removals" in the console), or raise the export's removalGuardPercent. ` +
    `Until then, scheduled refreshes leave this snapshot alone.`
  );
}
