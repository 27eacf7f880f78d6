import type { Run, RunCounts } from '../../api';

const pct = (part: number, whole: number) => (whole > 0 ? `${((part * 100) / whole).toFixed(1)}%` : '0%');

/**
 * A run's counts in one line: what a dry run would do, or what a run did (unknown and not sent only when there are
 * any).
 */
export function countsText(run: Run): string {
  const c: RunCounts = run.counts;
  if (run.dryRun) {
    return `read ${c.read} · would upsert ${c.wouldUpsert} · would unsubscribe ${c.wouldUnsubscribe} · unchanged ${c.unchanged} · rejected ${c.rejected}`;
  }
  const parts = [
    `read ${c.read}`,
    `upserted ${c.upserted}`,
    `unsubscribed ${c.unsubscribed}`,
    `unchanged ${c.unchanged}`,
    `rejected ${c.rejected}`,
    `failed ${c.failed}`,
  ];
  if (c.unknown > 0) parts.push(`unknown ${c.unknown}`);
  if (c.notSent > 0) parts.push(`not sent ${c.notSent}`);
  if (c.emailChanged > 0) parts.push(`email changed ${c.emailChanged}`);
  if (c.untagged > 0) parts.push(`tags removed from ${c.untagged} who left`);
  if (c.notInActiveCampaign > 0) parts.push(`not in ActiveCampaign ${c.notInActiveCampaign}`);
  return parts.join(' · ');
}

/** What a removal guard stop measured, in words: "500 of the 1000 contacts the export last sent (50.0%)". */
export function removalsText(removals: NonNullable<Run['removals']>): string {
  return `${removals.unsubscribes} of the ${removals.lastSent} contacts the export last sent (${pct(removals.unsubscribes, removals.lastSent)})`;
}

const STATUS_WORDS: Record<string, string> = {
  queued: 'queued',
  planning: 'reading the segment',
  sending: 'sending',
  completed: 'completed',
  completedWithErrors: 'completed with errors',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** What the live region says about a run: its progress, or its end. */
export function announcement(run: Run): string {
  const what = run.dryRun ? 'Dry run' : 'Run';
  const total = run.batches.total;
  // In tenths, so that a screen reader hears ten steps, not every batch.
  if (run.status === 'sending' && total)
    return `${what} sending: about ${Math.floor((run.batches.done / total) * 10) * 10}% of ${total} batches done`;
  if (run.status === 'planning') return `${what} reading the segment`;
  const ended = ['completed', 'completedWithErrors', 'failed', 'cancelled'].includes(run.status);
  return `${what} ${STATUS_WORDS[run.status] ?? run.status}${ended ? `: ${countsText(run)}${run.error ? `. ${run.error}` : ''}` : ''}`;
}
