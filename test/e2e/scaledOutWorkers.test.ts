import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE } from '../../shared/auth/principal.js';
import { createConnection } from '../../shared/connections/connectionService.js';
import { createExport } from '../../shared/exports/exportService.js';
import { startRun } from '../../shared/runs/runLifecycle.js';
import { TERMINAL_STATUSES } from '../../shared/model.js';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
import {
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

const REQUESTS_PER_SECOND = 10;
const CONTACTS = 20_000;
const admin = { name: 'admin@example.com', roles: ['admin' as const] };

describe('four independent worker processes sharing one ActiveCampaign account', () => {
  let h: Harness;
  const workers: RunnerProcess[] = [];

  beforeAll(async () => {
    h = await startHarness({
      requestsPerSecond: REQUESTS_PER_SECOND,
      bulkImportsPerMinute: 6_000,
      importPhaseInMs: 50,
    });
    for (let i = 0; i < 4; i++) workers.push(await startRunnerProcess(h.env, ['--triggers', 'queue']));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await h?.stop();
  });

  it('keeps the per-second budget in every second and delivers every contact', async () => {
    expect(ADMIN_ROLE).toBe('Exports.Admin');
    const lines = ['email,first'];
    for (let i = 0; i < CONTACTS; i++) lines.push(`w${i}@example.com,W${i}`);
    await uploadText(h.blobs, 'segments', 'scale/all.csv', lines.join('\n'));
    const connection = await createConnection(h.svc, admin, {
      displayName: 'x',
      hostname: h.emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      dataPrivacyConsent: true,
    });
    const exp = await createExport(h.svc, admin, {
      displayName: 'scale',
      connectionId: connection.id,
      listId: 1,
      source: { container: 'segments', path: 'scale/all.csv' },
      mapping: { email: 'email', firstName: 'first' },
    });
    const started = await startRun(h.svc, exp, { trigger: 'manual' });
    const run = await waitFor(
      'the run to end',
      async () => {
        const r = await h.svc.runs.getRun(exp.id, started.runId);
        return r && TERMINAL_STATUSES.has(r.status) ? r : undefined;
      },
      120_000,
      500,
    );

    expect(run.status).toBe('completed');
    expect(run.counts.upserted).toBe(CONTACTS);
    expect(h.emulator.listMembers(1)).toHaveLength(CONTACTS);

    const accepted = h.emulator.requests.filter((r) => !r.refusedForRate);
    for (const refused of h.emulator.requests.filter((r) => r.refusedForRate)) {
      console.log(
        'refused',
        refused,
        h.emulator.requests
          .filter((r) => Math.abs(r.at - refused.at) < 1100)
          .map((r) => `${r.at - refused.at}${r.refusedForRate ? '!' : ''}`)
          .join(' '),
      );
    }
    expect(h.emulator.refusedForRate).toBe(0);
    expect(h.emulator.maxInSlidingWindow(1_000)).toBeLessThanOrEqual(REQUESTS_PER_SECOND);
    const { perSecond } = h.emulator.requestsPerWindow();
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(REQUESTS_PER_SECOND);

    // Every worker process sent imports: the work really was shared.
    const outputs = workers.map((w) => w.output());
    expect(outputs.filter((o) => /import .* queued/.test(o))).toHaveLength(4);

    // Utilization while imports were flowing (reported, not asserted: speed belongs to `npm run bench`).
    const imports = accepted.filter((r) => r.kind === 'bulkImport').map((r) => r.at);
    const from = Math.min(...imports);
    const to = Math.max(...imports);
    const inSpan = accepted.filter((r) => r.at >= from && r.at <= to).length;
    const utilization = inSpan / ((REQUESTS_PER_SECOND * (to - from)) / 1000 + 1);
    console.log(
      `scaled-out workers: ${imports.length} imports, ${accepted.length} requests, utilization ${utilization.toFixed(3)}`,
    );
  }, 180_000);
});
