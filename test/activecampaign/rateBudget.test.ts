import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BudgetWaitError,
  earliestSlot,
  earliestSpacedSlot,
  RateBudget,
} from '../../shared/activecampaign/rateBudget.js';
import { TableReservationStore } from '../../shared/store/rateBudgetStore.js';
import { startAzurite, type AzuriteInstance } from '../../tools/azurite.js';

/** The most events in any window of `windowInMs` (half-open, as the emulator counts). */
function maxInWindow(times: number[], windowInMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= windowInMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

describe('earliestSlot', () => {
  it('is now while the window has room', () => {
    expect(earliestSlot([0, 100], 200, 3, 1000)).toBe(200);
  });
  it('waits until the oldest event leaves the window', () => {
    expect(earliestSlot([0, 100, 200], 300, 3, 1000)).toBe(1000);
  });
  it('respects reservations already made in the future', () => {
    expect(earliestSlot([1500, 1600], 0, 2, 1000)).toBe(0);
    expect(earliestSlot([500, 900, 1500], 0, 2, 1000)).toBe(1900);
  });
});

describe('earliestSpacedSlot', () => {
  it('keeps every request a full spacing away from the others, filling gaps first', () => {
    expect(earliestSpacedSlot([], 10, 100)).toBe(10);
    expect(earliestSpacedSlot([0, 100], 50, 100)).toBe(200);
    expect(earliestSpacedSlot([0, 400], 50, 100)).toBe(100);
    expect(earliestSpacedSlot([0, 150], 50, 100)).toBe(250);
  });
});

describe('RateBudget with its reservations in Table storage', () => {
  let azurite: AzuriteInstance;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(() => azurite?.stop());

  const reservations = (name: string) =>
    new TableReservationStore(
      TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true }),
    );

  it('keeps concurrent reservers of several budget objects within both windows, and uses the imports budget fully', async () => {
    const clock = 1_000_000;
    const options = { requestsPerSecond: 5, bulkImportsPerMinute: 100, maxWaitInMs: 10 * 60_000, now: () => clock };
    // Four "instances", each its own client and budget object, sharing one table.
    const budgets = Array.from({ length: 4 }, () => new RateBudget(reservations('budgetone'), options));
    const imports: number[] = [];
    const requests: number[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, worker) => {
        for (let i = 0; i < 6; i++) {
          const budget = budgets[worker % 4];
          const kind = i % 2 === 0 ? 'bulkImport' : 'request';
          const slot = await budget.reserve('acme.api-us1.com', kind);
          requests.push(slot);
          if (kind === 'bulkImport') imports.push(slot);
        }
      }),
    );
    expect(imports).toHaveLength(120);
    expect(maxInWindow(requests, 1000)).toBeLessThanOrEqual(5);
    expect(maxInWindow(imports, 60_000)).toBeLessThanOrEqual(100);
    // The whole minute budget is used in the first minute (plus the guard), none is left idle.
    expect(imports.filter((t) => t < clock + 60_080)).toHaveLength(100);
    // 240 requests at 5 a second (less the guard) take about 50 s; the last 20 imports wait for the minute.
    expect(Math.max(...requests) - clock).toBeLessThan(70_000);
  });

  it('sends work back (BudgetWaitError with a delay) instead of reserving too far ahead', async () => {
    const budget = new RateBudget(reservations('budgettwo'), {
      requestsPerSecond: 2,
      bulkImportsPerMinute: 100,
      maxWaitInMs: 1_500,
      now: () => 5_000_000,
    });
    // Spaced 540 ms apart (2 a second plus the guard): 0, 540, 1080 fit within 1.5 s, 1620 does not.
    expect(await budget.reserve('acme.api-us1.com', 'request')).toBe(5_000_000);
    expect(await budget.reserve('acme.api-us1.com', 'request')).toBe(5_000_540);
    expect(await budget.reserve('acme.api-us1.com', 'request')).toBe(5_001_080);
    const error = await budget.reserve('acme.api-us1.com', 'request').catch((e) => e);
    expect(error).toBeInstanceOf(BudgetWaitError);
    expect(error.retryAfterInMs).toBeGreaterThan(0);
  });

  it('keeps separate budgets per account hostname', async () => {
    const budget = new RateBudget(reservations('budgetthree'), {
      requestsPerSecond: 1,
      bulkImportsPerMinute: 100,
      now: () => 9_000_000,
    });
    expect(await budget.reserve('one.api-us1.com', 'request')).toBe(9_000_000);
    expect(await budget.reserve('two.api-us1.com', 'request')).toBe(9_000_000);
    expect(await budget.reserve('one.api-us1.com', 'request')).toBeGreaterThanOrEqual(9_001_000);
  });

  /** A budget on a fake clock whose process is `lateBy(n)` ms late after its n-th wake (a busy core). */
  function lateBudget(name: string, lateBy: (wake: number) => number) {
    let clock = 20_000_000;
    let wakes = 0;
    const budget = new RateBudget(reservations(name), {
      requestsPerSecond: 5,
      bulkImportsPerMinute: 100,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    const gate = async () => {
      clock += lateBy(wakes++);
    };
    return { budget, gate, wakes: () => wakes, now: () => clock };
  }

  it('lets an interactive call wait its turn on a busy process instead of failing for lateness', async () => {
    // Late by 200 ms on each of its first eight wakes, then on time.
    const { budget, gate, wakes } = lateBudget('budgetlate', (n) => (n < 8 ? 200 : 0));
    await expect(
      budget.acquire('acme.api-us1.com', 'request', { patienceInMs: 20_000, gate }),
    ).resolves.toBeUndefined();
    expect(wakes()).toBe(9);
  });

  it('sends queue work back after a few late wakes (BudgetWaitError), never off-beat', async () => {
    const { budget, gate } = lateBudget('budgetlate2', () => 200);
    const error = await budget.acquire('acme.api-us1.com', 'bulkImport', { gate }).catch((e) => e);
    expect(error).toBeInstanceOf(BudgetWaitError);
  });

  it('retakes the import slot of a late import, so that the minute window holds the time it goes out', async () => {
    // The first import wakes 300 ms late twice, then goes out; a hundred more follow on time. Had it
    // kept its first import slot, the 101st import would be due 60.08 s after that slot: less than
    // a minute after the first import really went out, and ActiveCampaign would refuse it.
    const { budget, gate, now } = lateBudget('budgetlate4', (n) => (n < 2 ? 300 : 0));
    const sentAt: number[] = [];
    for (let i = 0; i < 101; i++) {
      await budget.acquire('acme.api-us1.com', 'bulkImport', { gate, patienceInMs: 120_000 });
      sentAt.push(now());
    }
    expect(sentAt[1] - sentAt[0]).toBeGreaterThanOrEqual(200);
    expect(sentAt[100] - sentAt[0]).toBeGreaterThanOrEqual(60_000);
  });

  it('goes out when it wakes within half the guard of its slot', async () => {
    const { budget, gate, wakes } = lateBudget('budgetlate3', () => 39);
    await budget.acquire('acme.api-us1.com', 'bulkImport', { gate });
    expect(wakes()).toBe(1);
  });
});
