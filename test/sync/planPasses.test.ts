import { describe, expect, it } from 'vitest';
import { ALL_EMAILS, EmailTable } from '../../shared/sync/emailTable.js';
import { PlanPasses, snapshotRowsBound, type PlanPass } from '../../shared/sync/planPasses.js';

/** Runs the passes over these emails' positions: how many each pass held and what they covered. */
function simulate(positions: Float64Array, emailsPerPass: number, emailsBound: number) {
  const passes = new PlanPasses(emailsPerPass, emailsBound);
  const held: number[] = [];
  const capacities: number[] = [];
  let covered = 0;
  let at = 0;
  for (let pass: PlanPass | undefined = passes.first(); pass;) {
    expect(pass.range.start).toBe(at);
    expect(pass.range.end).toBeGreaterThan(pass.range.start);
    at = pass.range.end;
    let n = 0;
    for (const p of positions) if (p >= pass.range.start && p < pass.range.end) n++;
    covered += n;
    held.push(n);
    capacities.push(pass.capacity);
    pass = passes.next(pass.range, n);
  }
  expect(at).toBe(ALL_EMAILS.end);
  return { held, capacities, covered };
}

const positionsOf = (count: number, prefix: string) =>
  Float64Array.from({ length: count }, (_, i) => EmailTable.position(`${prefix}${i}@example.com`));

describe('the planner’s passes', () => {
  const emails = positionsOf(1_000_000, 'person');

  it('reads in one pass whatever fits in the budget', () => {
    expect(new PlanPasses(4_000_000, 3_999_999).first()).toEqual({ range: ALL_EMAILS, capacity: 3_999_999 });
    const { held } = simulate(emails, 1_000_000, 1_000_000);
    expect(held).toEqual([1_000_000]);
  });

  it('covers every email exactly once and never holds more than the budget in a pass, from an exact bound', () => {
    const { held, capacities, covered } = simulate(emails, 100_000, 1_000_000);
    expect(covered).toBe(1_000_000);
    expect(Math.max(...held)).toBeLessThanOrEqual(100_000);
    expect(Math.max(...capacities)).toBeLessThanOrEqual(100_000);
    expect(held.length).toBeLessThanOrEqual(12);
    // Each table is sized for what its pass held (no growth): the estimate follows the real density.
    held.slice(1).forEach((n, i) => expect(capacities[i + 1]).toBeGreaterThanOrEqual(n));
  });

  it('costs a pass more, never memory, when the bound is far above the truth (a compressed snapshot bounded by the row cap)', () => {
    const { held, covered } = simulate(emails, 400_000, 20_000_000);
    expect(covered).toBe(1_000_000);
    expect(Math.max(...held)).toBeLessThanOrEqual(400_000);
    // The first pass was sized for 20 million and saw 1.8 % of the hash; the rest fit in 3.
    expect(held.length).toBeLessThanOrEqual(4);
  });

  it('bounds a snapshot’s rows by its text bytes, or by the row cap when they are compressed', () => {
    const csv = { format: 'csv', gzip: false };
    expect(
      snapshotRowsBound(
        [
          { ...csv, size: 600 },
          { ...csv, size: 61 },
        ],
        1_000,
      ),
    ).toBe(111);
    expect(snapshotRowsBound([{ ...csv, size: 60_000 }], 1_000)).toBe(1_000);
    expect(
      snapshotRowsBound(
        [
          { ...csv, size: 600 },
          { ...csv, gzip: true, size: 60 },
        ],
        1_000,
      ),
    ).toBe(1_000);
    expect(snapshotRowsBound([{ format: 'parquet', gzip: false, size: 60 }], 1_000)).toBe(1_000);
    expect(snapshotRowsBound([{ ...csv }], 1_000)).toBe(1_000);
  });

  it('takes a text file’s rows to be at least half as long as the rows sampled at its start', () => {
    const csv = { format: 'csv', gzip: false };
    // 60 MB of 60-byte rows: a million rows, bounded by two million (ten million from the bytes alone).
    expect(snapshotRowsBound([{ ...csv, size: 60_000_000, rowBytes: 60 }], 10_000_000)).toBe(2_000_000);
    expect(snapshotRowsBound([{ ...csv, size: 60_000_000 }], 10_000_000)).toBe(10_000_000);
    // Rows sampled shorter than any row with an email can be do not raise the bound past the bytes'.
    expect(snapshotRowsBound([{ ...csv, size: 600, rowBytes: 4 }], 1_000)).toBe(100);
  });
});
