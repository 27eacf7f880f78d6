import { describe, expect, it } from 'vitest';
import type { Run } from '../../shared/model.js';
import { FAILED_SNAPSHOT_RETRY_IN_MS, refreshSkipReason } from '../../shared/runs/scheduledRefresh.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const MIN = 60_000;
type RunSummary = Parameters<typeof refreshSkipReason>[0][number];
let seq = 0;
/** A run that started `minutesAgo` before `now` on `snapshot` (newest runs go first in the list). */
const run = (status: Run['status'], minutesAgo: number, extra: Partial<RunSummary> = {}): RunSummary => ({
  runId: `run${++seq}`,
  status,
  dryRun: false,
  snapshot: { id: 'S', files: [] },
  startedAt: new Date(T0 - minutesAgo * MIN).toISOString(),
  ...extra,
});
const guardStop = {
  removals: { unsubscribes: 995, lastSent: 1000, limitPercent: 10, allowed: 100, exceeded: true, confirmed: false },
};
const skip = (runs: RunSummary[], editedMinutesAgo?: number) =>
  refreshSkipReason(runs, 'S', editedMinutesAgo === undefined ? undefined : T0 - editedMinutesAgo * MIN, T0);

describe('the scheduled refresh rule', () => {
  it('runs a snapshot no run exported, and not one a run exported', () => {
    expect(skip([])).toBeUndefined();
    expect(skip([run('completed', 30)])).toBe('snapshot already exported');
    expect(skip([run('completedWithErrors', 30)])).toBe('snapshot already exported');
    expect(skip([run('completed', 30, { snapshot: { id: 'older', files: [] } })])).toBeUndefined();
    // Dry runs neither export nor fail a snapshot.
    expect(skip([run('completed', 5, { dryRun: true })])).toBeUndefined();
    expect(skip([run('failed', 5, { dryRun: true }), run('completed', 30)])).toBe('snapshot already exported');
  });

  it('runs an exported snapshot again once the export was edited after that run started', () => {
    expect(skip([run('completed', 30)], 10)).toBeUndefined();
    expect(skip([run('completed', 30)], 40)).toBe('snapshot already exported');
  });

  it('leaves a snapshot stopped at the removal guard, or cancelled, for a person, until an edit or a new snapshot', () => {
    expect(
      skip([run('failed', 200, guardStop), run('completed', 24 * 60, { snapshot: { id: 'older', files: [] } })]),
    ).toMatch(/stopped at the removal guard on this snapshot: waiting for a person/);
    // However long ago: repeating it would stop again, and alert again.
    expect(skip([run('failed', 10 * 24 * 60, guardStop)])).toMatch(/removal guard/);
    expect(skip([run('failed', 200, guardStop)], 100)).toBeUndefined();
    expect(skip([run('failed', 200, { removals: { ...guardStop.removals, confirmed: true } })])).toBeUndefined();
    expect(skip([run('cancelled', 200)])).toMatch(
      /was cancelled: waiting for a new snapshot, an edit of the export, or Run now/,
    );
    expect(refreshSkipReason([run('failed', 200, guardStop)], 'newer', undefined, T0)).toBeUndefined();
  });

  it('tries a snapshot whose runs failed again after 15 minutes, then 30, 60 … and at most a day apart', () => {
    expect(skip([run('failed', 14)])).toMatch(
      /^1 run\(s\) failed on this snapshot; the next try is at 2026-12-01T00:01:00.000Z$/,
    );
    expect(skip([run('failed', FAILED_SNAPSHOT_RETRY_IN_MS / MIN)])).toBeUndefined();
    expect(skip([run('failed', 29), run('failed', 60)])).toMatch(/^2 run\(s\) failed/);
    expect(skip([run('failed', 30), run('failed', 60)])).toBeUndefined();
    expect(skip([run('failed', 59), run('failed', 100), run('failed', 120)])).toMatch(/^3 run\(s\) failed/);
    expect(skip([run('failed', 60), run('failed', 100), run('failed', 120)])).toBeUndefined();
    const many = Array.from({ length: 20 }, (_, i) => run('failed', 23 * 60 + i));
    expect(skip(many)).toMatch(/^20 run\(s\) failed/);
    expect(
      skip(many.map((r, i) => ({ ...r, startedAt: new Date(T0 - (24 * 60 + i) * MIN).toISOString() }))),
    ).toBeUndefined();
    // Failures before an edit, or on another snapshot, do not count.
    expect(skip([run('failed', 5), run('failed', 60)], 30)).toMatch(/^1 run\(s\) failed/);
    expect(skip([run('failed', 5, { snapshot: { id: 'older', files: [] } })])).toBeUndefined();
  });
});
