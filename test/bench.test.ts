import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/harness.js';

/** The benchmark at a reduced size, so that it cannot rot. It measures; this test asserts no timing. */
describe('npm run bench at 20,000 profiles', () => {
  it('runs all four measurements and writes both result files', async () => {
    // The budget run is at ActiveCampaign's real limits (100 imports a minute): 5,000 profiles keep it short.
    const out = mkdtempSync(join(tmpdir(), 'bench-'));
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/bench.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        BENCH_PROFILES: '20000',
        BENCH_BUDGET_PROFILES: '5000',
        BENCH_BUSY_CORE: '0',
        BENCH_OUT: out,
      },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const results = JSON.parse(readFileSync(join(out, 'bench-results.json'), 'utf8'));
    expect(results.profiles).toBe(20_000);
    for (const key of ['ceilingShare', 'refusedForRate', 'refusedShare', 'contactsPerSecond', 'peakRssMb'])
      expect(typeof results[key]).toBe('number');
    expect(results.speed.counts).toMatchObject({ read: 20_000, upserted: 20_000, failed: 0 });
    expect(results.budget.counts).toMatchObject({ read: 5_000, upserted: 5_000, failed: 0 });
    // The account's imports during run 3: its 20, and those of the small export's 2 that came before it ended.
    expect(results.budget).toMatchObject({ requestsPerSecond: 5, bulkImportsPerMinute: 100 });
    expect(results.budget.imports).toBeGreaterThanOrEqual(20);
    expect(results.budget.imports).toBeLessThanOrEqual(22);
    // 1% changed (200) and 0.5% left (100): exactly what the refresh sends.
    expect(results.refresh).toMatchObject({ contactsSent: 300, expected: 300 });
    expect(results.refresh.counts).toMatchObject({ unsubscribed: 100 });
    // A new snapshot written after them: its blob events start a run that sends its change, and nothing else.
    expect(results.freshness).toMatchObject({
      status: 'completed',
      trigger: 'schedule',
      runsStarted: 1,
      contactsSent: 300,
      expected: 300,
    });
    expect(results.freshness.seconds).toBeGreaterThan(0);
    // A small export on the budget run's account, started a quarter into it (here its 20 batches fit in the window
    // at once; e2e/sharedAccount.test.ts proves the sharing).
    expect(results.smallBesideLarge).toMatchObject({ contacts: 500, status: 'completed' });
    expect(results.smallBesideLarge.seconds).toBeGreaterThan(0);
    const report = readFileSync(join(out, 'BENCHMARKS.md'), 'utf8');
    for (const row of [
      '| 1. Pipeline',
      '| 2. Refresh, mirror mode',
      "| 3. Budget at ActiveCampaign's real limits",
      '| 4. Freshness',
      '| 3. A 500-contact export on the same account',
    ])
      expect(report).toContain(row);
  }, 300_000);
});
