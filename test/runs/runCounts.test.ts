import { describe, expect, it } from 'vitest';
import { accountedRows, emptyCounts } from '../../shared/model.js';
import { runCounts, runOutcome, runReasons, sumBatches, unconfirmedUpserts } from '../../shared/runs/runCounts.js';
import { tally } from '../../shared/runs/checkImport.js';
import { pendingBatch, type BatchState, type PlanSummary } from '../../shared/runs/runModel.js';

const plan = (p: Partial<PlanSummary> = {}): PlanSummary => ({
  read: 1000,
  rejected: 10,
  duplicate: 5,
  unchanged: 385,
  batches: 3,
  messages: 1,
  enqueued: 1,
  rejectedReasons: { 'missing email': 10 },
  ...p,
});
const batch = (b: Partial<BatchState>): BatchState => pendingBatch('r', 1, 200, b);
const addsUp = (c: ReturnType<typeof runCounts>) => expect(c.read).toBe(accountedRows(c));

describe('the run counts rule', () => {
  it('takes read, duplicates and unchanged from the plan and outcomes from the batches; nothing by subtraction', () => {
    const sums = sumBatches([
      batch({
        batch: 1,
        status: 'completed',
        upserted: 198,
        rejected: 2,
        rejectedReasons: { 'ActiveCampaign: blocked': 2 },
      }),
      batch({
        batch: 2,
        status: 'completed',
        upserted: 195,
        failed: 5,
        error: 'ActiveCampaign could not process the contact',
      }),
      batch({ batch: 3, status: 'submitted', importId: 'i3', contacts: 200 }),
    ]);
    const live = runCounts(plan(), sums, false);
    expect(live).toEqual({
      ...emptyCounts(),
      read: 1000,
      rejected: 12,
      duplicate: 5,
      unchanged: 385,
      upserted: 393,
      unsubscribed: 0,
      failed: 5,
    });
    const final = runCounts(plan(), sums, true);
    // An accepted import without its outcome yet may have arrived: unknown, never failed.
    expect(final).toMatchObject({ failed: 5, unknown: 200, notSent: 0 });
    addsUp(final);
  });

  it('counts a run that ends (cancelled) by what is known of each open batch: never posted is notSent, maybe posted is unknown', () => {
    const sums = sumBatches([
      batch({ batch: 1, status: 'completed', upserted: 200 }),
      batch({ batch: 2, status: 'pending' }),
      batch({ batch: 3, status: 'sending', claimId: 'c', claimedUntil: 1 }),
      batch({ batch: 4, status: 'sending', postingAt: 1 }),
      batch({ batch: 5, status: 'pending', uncertainPosts: 1 }),
      batch({ batch: 6, status: 'submitted', importId: 'i6' }),
      batch({ batch: 7, status: 'cancelled', notSent: 200, error: 'The run ended before the batch was sent' }),
      batch({ batch: 8, status: 'failed', unknown: 200, uncertainPosts: 2, error: 'timeout' }),
    ]);
    const counts = runCounts(plan({ read: 1800, rejected: 0, duplicate: 0, unchanged: 200, batches: 8 }), sums, true);
    expect(counts).toMatchObject({ upserted: 200, failed: 0, notSent: 600, unknown: 800 });
    addsUp(counts);
  });

  it('says a run whose answers were lost completed with errors, not that no contact arrived', () => {
    const sums = sumBatches([
      batch({ batch: 1, status: 'failed', contacts: 500, unknown: 500, uncertainPosts: 2, error: 'POST timed out' }),
    ]);
    const counts = runCounts(
      plan({ read: 500, rejected: 0, duplicate: 0, unchanged: 0, batches: 1, rejectedReasons: {} }),
      sums,
      true,
    );
    expect(counts).toMatchObject({ failed: 0, unknown: 500 });
    const outcome = runOutcome(counts, runReasons(plan({ rejectedReasons: {} }), sums), sums);
    expect(outcome.status).toBe('completedWithErrors');
    expect(outcome.error).toMatch(
      /^500 contact\(s\) were sent but ActiveCampaign's answer was lost, so whether they arrived is not known/,
    );
  });

  it("counts a batch's unconfirmed upserts once: contacts less rejected less unsubscribes less those not found", () => {
    expect(unconfirmedUpserts({ contacts: 250, rejected: 3, unsubscribes: 40 })).toBe(207);
    expect(unconfirmedUpserts({ contacts: 5, rejected: 5, unsubscribes: 2 })).toBe(0);
    expect(unconfirmedUpserts({ contacts: 250, rejected: 3, unsubscribes: 0, notInActiveCampaign: 47 })).toBe(200);
  });

  it('adds update-only contacts that ActiveCampaign did not have to the right-hand side, also in a cancelled run', () => {
    const sums = sumBatches([
      batch({ batch: 1, status: 'completed', contacts: 250, notInActiveCampaign: 50, upserted: 198, failed: 2 }),
      // Looked up, then the run was cancelled before the post: the rest were not sent.
      batch({ batch: 2, status: 'pending', contacts: 100, notInActiveCampaign: 30 }),
    ]);
    const counts = runCounts(plan({ read: 360, rejected: 0, duplicate: 0, unchanged: 10 }), sums, true);
    expect(counts).toMatchObject({ upserted: 198, failed: 2, notInActiveCampaign: 80, notSent: 70 });
    expect(accountedRows(counts)).toBe(360);
    expect(runOutcome(counts, [], sums).status).toBe('completedWithErrors');
  });

  it('adds up with unsubscribes, which are not rows read', () => {
    const sums = sumBatches([
      batch({ batch: 1, status: 'completed', contacts: 250, unsubscribes: 50, upserted: 200, unsubscribed: 48 }),
      batch({ batch: 2, status: 'completed', contacts: 200, unsubscribes: 0, upserted: 200 }),
      batch({ batch: 3, status: 'completed', contacts: 190, unsubscribes: 0, upserted: 190 }),
    ]);
    const counts = runCounts(plan({ read: 1000, rejected: 10, duplicate: 5, unchanged: 395 }), sums, true);
    expect(counts).toMatchObject({ upserted: 590, unsubscribed: 48, failed: 0 });
    addsUp(counts);
    expect(sums.unsubscribesFailed).toBe(2);
    expect(runOutcome(counts, runReasons(plan(), sums), sums)).toEqual({
      status: 'completedWithErrors',
      error: '2 unsubscribe(s) did not take effect and will be tried again. 10 row(s) rejected: missing email (10)',
    });
  });

  it('fails a run that delivered nothing, naming the commonest reason', () => {
    const sums = sumBatches([
      batch({ batch: 1, status: 'failed', failed: 200, error: 'ActiveCampaign reported the import interrupted' }),
      batch({ batch: 2, status: 'failed', failed: 200, error: 'ActiveCampaign reported the import interrupted' }),
      batch({ batch: 3, status: 'failed', failed: 200, error: 'Processing failed repeatedly' }),
    ]);
    const counts = runCounts(plan({ read: 600, rejected: 0, duplicate: 0, unchanged: 0 }), sums, true);
    expect(runOutcome(counts, runReasons(plan(), sums), sums)).toEqual({
      status: 'failed',
      error:
        'No contact reached ActiveCampaign: 600 failed, most with "ActiveCampaign reported the import interrupted"',
    });
  });

  it('fails a run whose every row was rejected, and completes one with nothing to send', () => {
    const none = sumBatches([]);
    const rejectedAll = runCounts(
      plan({
        read: 10,
        rejected: 10,
        duplicate: 0,
        unchanged: 0,
        batches: 0,
        rejectedReasons: { 'invalid email: the domain is not a valid domain name': 10 },
      }),
      none,
      true,
    );
    expect(
      runOutcome(rejectedAll, runReasons(plan({ rejectedReasons: { 'invalid email: x': 10 } }), none), none).status,
    ).toBe('failed');
    const unchanged = runCounts(plan({ read: 10, rejected: 0, duplicate: 0, unchanged: 10, batches: 0 }), none, true);
    expect(runOutcome(unchanged, [], none)).toEqual({ status: 'completed' });
  });

  it('lists reasons commonest first, rejections and failures apart', () => {
    const sums = sumBatches([batch({ status: 'completed', upserted: 180, failed: 20, error: 'x failed' })]);
    expect(runReasons(plan({ rejectedReasons: { a: 3, b: 30 } }), sums)).toEqual([
      { kind: 'rejected', reason: 'b', count: 30 },
      { kind: 'failed', reason: 'x failed', count: 20 },
      { kind: 'rejected', reason: 'a', count: 3 },
    ]);
  });
});

describe('tally of a completed import', () => {
  it('counts failed upserts, unsubscribes that took effect, and leaves refused returners to the rejections', () => {
    const contacts = [
      { email: 'a@x.io', subscribe: [{ listid: '1' }] },
      { email: 'b@x.io', subscribe: [{ listid: '1' }] },
      { email: 'c@x.io', unsubscribe: [{ listid: '1' }] },
      { email: 'd@x.io', unsubscribe: [{ listid: '1' }] },
      { email: 'e@x.io', subscribe: [{ listid: '1' }] },
    ];
    expect(tally(contacts, new Set(['b@x.io', 'd@x.io']), new Set(['e@x.io']))).toEqual({
      upserted: 1,
      unsubscribed: 1,
      failed: 1,
    });
  });
});
