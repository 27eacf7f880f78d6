/**
 * Delta sync as pure rules. An export's state holds, for each contact it sent, the fingerprint of
 * what was sent (12 hex digits, a number here) or a marker: `-` (unknown: the contact is sent again)
 * or `u<seconds>` (this export unsubscribed the contact from the list at that time, in mirror mode).
 */

/** A state value that matches no fingerprint: the contact is sent again by the next run. */
export const UNKNOWN = -1;

/** The state value of a contact this export unsubscribed at `atMs`. */
export const unsubscribedMarker = (atMs: number) => -(2 + Math.floor(atMs / 1000));

/** When this export unsubscribed the contact (ms since epoch), if the value is that marker. */
export function unsubscribedAt(value: number | undefined): number | undefined {
  return value !== undefined && value <= -2 ? (-value - 2) * 1000 : undefined;
}

/** A state file's text for a value, and back. */
export function stateText(value: number): string {
  if (value === UNKNOWN) return '-';
  const at = unsubscribedAt(value);
  if (at !== undefined) return `u${at / 1000}`;
  // Two 24-bit halves: small integers print fast, a 48-bit double through toString(16) does not.
  const high = Math.floor(value / 0x1000000);
  return high.toString(16).padStart(6, '0') + (value - high * 0x1000000).toString(16).padStart(6, '0');
}

export function stateValue(text: string): number {
  if (text === '-') return UNKNOWN;
  if (text.startsWith('u')) return unsubscribedMarker(Number(text.slice(1)) * 1000);
  return parseInt(text, 16);
}

/** What the planner does with a valid, first-seen contact of the snapshot. */
export type ContactDecision = 'new' | 'changed' | 'unchanged' | 'returner';

export function decideContact(previous: number | undefined, print: number, fullSync: boolean): ContactDecision {
  if (previous === undefined) return 'new';
  // ActiveCampaign's importer cannot re-subscribe a contact this export unsubscribed: it needs its own step.
  if (unsubscribedAt(previous) !== undefined) return 'returner';
  if (!fullSync && previous === print) return 'unchanged';
  return 'changed';
}

/** What the planner does with a contact of the previous state that this snapshot does not have. */
export type LeaverDecision = 'unsubscribe' | 'keepMarker' | 'forget';

export function decideLeaver(previous: number, unsubscribeLeavers: boolean): LeaverDecision {
  // A contact this export unsubscribed stays marked in either mode, so that its return re-subscribes it.
  if (unsubscribedAt(previous) !== undefined) return 'keepMarker';
  return unsubscribeLeavers ? 'unsubscribe' : 'forget';
}
