import type { BatchState } from './runModel.js';

/**
 * What became of a contact a run planned to change, for the run's changes CSV: `applied` (its batch
 * ended and ActiveCampaign took it), `failed` (ActiveCampaign refused it or its batch failed: the
 * rejected rows say why), `unknown` (sent, outcome never known), `notSent` (the run ended first),
 * `pending` (still on its way), `dryRun` (a dry run: what it would do), `notInActiveCampaign`
 * (update-only: ActiveCampaign has no such contact, so none was created).
 */
export type ChangeOutcome = 'applied' | 'failed' | 'unknown' | 'notSent' | 'pending' | 'dryRun' | 'notInActiveCampaign';

export function changeOutcome(
  run: { dryRun: boolean; ended: boolean },
  batch: BatchState | undefined,
  named: { failed: ReadonlySet<string>; notInActiveCampaign: ReadonlySet<string> },
  email: string,
): ChangeOutcome {
  if (run.dryRun) return 'dryRun';
  if (named.failed.has(email)) return 'failed';
  if (named.notInActiveCampaign.has(email)) return 'notInActiveCampaign';
  const status = batch?.status ?? 'pending';
  if (status === 'completed') return 'applied';
  if (status === 'failed' || status === 'cancelled') {
    // A batch ends as a whole: its contacts share what its counts say, the worst first.
    if (batch!.failed > 0) return 'failed';
    if (batch!.unknown > 0) return 'unknown';
    if (batch!.notSent > 0) return 'notSent';
    return batch!.upserted + batch!.unsubscribed > 0 ? 'applied' : 'failed';
  }
  if (!run.ended) return 'pending';
  // The run ended before the batch did: a batch never posted was not sent, one posted may have arrived.
  return status === 'pending' ? 'notSent' : 'unknown';
}
