import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/config.js';
import { createExport } from '../../shared/exports/exportService.js';
import type { Export } from '../../shared/model.js';
import { planRun } from '../../shared/runs/planRun.js';
import { endRun, finalizeRun, startRun } from '../../shared/runs/runLifecycle.js';
import { createServices, type AppServices } from '../../shared/services.js';
import { stateText, unsubscribedAt, unsubscribedMarker } from '../../shared/sync/delta.js';
import { MAX_IMPORT_BYTES } from '../../shared/activecampaign/limits.js';
import { ImportBatcher } from '../../shared/sync/batching.js';
import { ALL_EMAILS, EmailTable } from '../../shared/sync/emailTable.js';
import { adminCaller, connectToEmulator, startHarness, uploadText, type Harness } from '../support/harness.js';

interface Planned {
  counts: Record<string, number>;
  removals: unknown;
  contacts: Map<string, string>;
  returners: string[];
  rejected: string[];
  state: string[];
  passes: number;
}

const row = (email: string, first: string, city: string, phone = '') => `${email},${first},${city},${phone}`;

/** The first snapshot: p0..p999. */
const first = () =>
  [
    'email,first,city,phone',
    ...Array.from({ length: 1_000 }, (_, i) => row(`p${i}@example.com`, `P${i}`, 'Oslo')),
  ].join('\n');

/**
 * The second: p0..p99 changed, p100..p799 unchanged, p800..p899 gone (leavers), p900..p949 back
 * after this export unsubscribed them (returners), p950..p999 unchanged, n0..n299 new; duplicates
 * (the first row wins), rows without a valid email and rows with a bad phone among them.
 */
const second = () =>
  [
    'email,first,city,phone',
    ...Array.from({ length: 100 }, (_, i) => row(`p${i}@example.com`, `P${i}`, 'Bergen')),
    row('P5@EXAMPLE.COM', 'Duplicate', 'Tromsø'),
    'not-an-email,X,Oslo,',
    ',Nobody,Oslo,',
    ...Array.from({ length: 700 }, (_, i) => row(`p${100 + i}@example.com`, `P${100 + i}`, 'Oslo')),
    ...Array.from({ length: 100 }, (_, i) => row(`p${900 + i}@example.com`, `P${900 + i}`, 'Oslo')),
    ...Array.from({ length: 300 }, (_, i) => row(`n${i}@example.com`, `N${i}`, 'Oslo', i % 50 === 7 ? 'call me' : '')),
    row('n3@example.com', 'Again', 'Oslo'),
    'x@y,Bad,Oslo,',
  ].join('\n');

describe('planning in passes (Azurite)', () => {
  let h: Harness;
  let connectionId: string;
  let exports = 0;

  beforeAll(async () => {
    h = await startHarness({ lists: [{ id: 1, name: 'L1' }], fields: [{ id: 1, title: 'City', type: 'text' }] });
    connectionId = await connectToEmulator(h);
  });
  afterAll(async () => {
    await h?.stop();
  });

  /**
   * Plans a run of `exp` with `svc` (nothing is sent), reads what it planned, commits its state as sent and ends it.
   */
  async function plan(svc: AppServices, exp: Export, commitSet = new Map<string, number>()): Promise<Planned> {
    const run = await startRun(svc, exp, { trigger: 'manual' });
    const log: string[] = [];
    await planRun(svc, { exportId: exp.id, runId: run.runId }, (m) => log.push(m));
    const planned = (await svc.runs.getRun(exp.id, run.runId))!;
    expect(planned.status, planned.error).toBe('sending');
    const contacts = new Map<string, string>();
    const returners: string[] = [];
    for (let b = 1; b <= planned.plan!.batches; b++) {
      for (const c of (await svc.runFiles.readBatch(run.runId, b))!) contacts.set(c.email, JSON.stringify(c));
      returners.push(...(await svc.runFiles.readReturners(run.runId, b)).map((r) => r.email));
    }
    const rejected = ((await svc.runFiles.readText(svc.runFiles.rejectedPath(run.runId))) ?? '')
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .sort();
    const values = new EmailTable();
    for (const [email, value] of commitSet) values.set(email, value);
    const pointer = await svc.exportState.commit(exp.id, run.runId, {
      ranges: [ALL_EMAILS],
      changesIn: async () => values,
    });
    const state: string[] = [];
    for await (const entries of svc.exportState.entries(pointer))
      for (const [email, value] of entries) state.push(`${email} ${value}`);
    await endRun(svc, exp.id, run.runId, 'cancelled', 'planned only');
    const passes = log.filter((m) => / pass \d+, /.test(m)).length || 1;
    return {
      counts: planned.counts as unknown as Record<string, number>,
      removals: planned.removals,
      contacts,
      returners: returners.sort(),
      rejected,
      state: state.sort(),
      passes,
    };
  }

  it('plans the same run in many passes as in one: contacts, duplicates, rejections, leavers, returners and state', async () => {
    await uploadText(h.blobs, 'passes', 'seg.csv', first());
    const onePass = h.svc;
    const manyPasses = createServices(readConfig({ ...h.env, PLANNER_EMAILS_PER_PASS: '200' }));
    const results: Planned[] = [];
    for (const svc of [onePass, manyPasses]) {
      await uploadText(h.blobs, 'passes', 'seg.csv', first());
      // Both exports send to list 1: the state's fingerprints include the list.
      const exp = await createExport(svc, adminCaller, {
        displayName: `passes ${++exports}`,
        connectionId,
        listId: 1,
        mode: 'mirror',
        removalGuardPercent: 100,
        source: { container: 'passes', path: 'seg.csv' },
        mapping: { email: 'email', firstName: 'first', phone: 'phone', fields: { '1': 'city' } },
      });
      // The first run's state marks p900..p949 as unsubscribed by this export.
      const unsubscribed = new Map(
        Array.from({ length: 50 }, (_, i) => [
          `p${900 + i}@example.com`,
          unsubscribedMarker(Date.parse('2026-11-01T00:00:00Z')),
        ]),
      );
      const run1 = await plan(svc, exp, unsubscribed);
      expect(run1.contacts.size).toBe(1_000);
      await uploadText(h.blobs, 'passes', 'seg.csv', second());
      results.push(await plan(svc, exp));
    }
    const [one, many] = results;
    expect(one.passes).toBe(1);
    expect(many.passes).toBeGreaterThanOrEqual(5);
    expect(one.counts).toMatchObject({ read: 1_205, rejected: 9, duplicate: 2, unchanged: 750 });
    expect(many.counts).toEqual(one.counts);
    expect(many.removals).toEqual(one.removals);
    expect(one.removals).toMatchObject({ unsubscribes: 100 });
    // 100 changed, 50 returners, 294 new (6 with a bad phone), 100 leavers unsubscribed.
    expect(one.contacts.size).toBe(544);
    expect(JSON.parse(one.contacts.get('p5@example.com')!)).toMatchObject({
      first_name: 'P5',
      fields: [{ id: 1, value: 'Bergen' }],
    });
    expect(JSON.parse(one.contacts.get('n3@example.com')!)).toMatchObject({ first_name: 'N3' });
    expect([...many.contacts.entries()].sort()).toEqual([...one.contacts.entries()].sort());
    expect(one.returners).toHaveLength(50);
    expect(many.returners).toEqual(one.returners);
    expect(one.rejected).toHaveLength(9);
    expect(many.rejected).toEqual(one.rejected);
    // The planned state holds every accepted email of the snapshot (leavers join it only when their unsubscribe is
    // sent).
    expect(one.state).toHaveLength(100 + 700 + 100 + 294);
    expect(many.state).toEqual(one.state);
  });
  it('rejects a contact larger than an import request allows, measured with its list as it would be sent', async () => {
    const budget = MAX_IMPORT_BYTES - 1_000;
    // A city that fills the request to the byte without the contact's list membership: with it, it does not fit.
    const bare = { email: 'edge@example.com', first_name: 'E', fields: [{ id: 1, value: '' }] };
    const city = 'x'.repeat(budget - ImportBatcher.sizeOf(bare));
    expect(ImportBatcher.sizeOf({ ...bare, fields: [{ id: 1, value: city }] })).toBe(budget);
    await uploadText(
      h.blobs,
      'passes',
      'large.csv',
      ['email,first,city,phone', row('edge@example.com', 'E', city), row('ok@example.com', 'O', 'Oslo')].join('\n'),
    );
    const exp = await createExport(h.svc, adminCaller, {
      displayName: `large ${++exports}`,
      connectionId,
      listId: 1,
      mode: 'mirror',
      source: { container: 'passes', path: 'large.csv' },
      mapping: { email: 'email', firstName: 'first', fields: { '1': 'city' } },
    });
    const planned = await plan(h.svc, exp);
    expect(planned.counts).toMatchObject({ read: 2, rejected: 1 });
    expect([...planned.contacts.keys()]).toEqual(['ok@example.com']);
    expect(planned.rejected).toEqual([
      expect.stringMatching(/^passes\/large.csv,2,edge@example.com,contact larger than an import request allows$/),
    ]);
  });

  it('commits a run’s end in many ranges as in one: named failures, a run that failed whole, leavers and returners', async () => {
    const startedAt = Date.now();
    /**
     * The committed state after the second run ends with `outcome`, the markers of this test's time made comparable.
     */
    async function endWith(svc: AppServices, outcome: 'named' | 'whole'): Promise<string[]> {
      await uploadText(h.blobs, 'passes', 'seg.csv', first());
      const exp = await createExport(svc, adminCaller, {
        displayName: `commit ${++exports}`,
        connectionId,
        listId: 1,
        mode: 'mirror',
        removalGuardPercent: 100,
        source: { container: 'passes', path: 'seg.csv' },
        mapping: { email: 'email', firstName: 'first', phone: 'phone', fields: { '1': 'city' } },
      });
      const unsubscribed = new Map(
        Array.from({ length: 50 }, (_, i) => [
          `p${900 + i}@example.com`,
          unsubscribedMarker(Date.parse('2026-11-01T00:00:00Z')),
        ]),
      );
      await plan(svc, exp, unsubscribed);
      await uploadText(h.blobs, 'passes', 'seg.csv', second());
      const run = await startRun(svc, exp, { trigger: 'manual' });
      await planRun(svc, { exportId: exp.id, runId: run.runId });
      const planned = (await svc.runs.getRun(exp.id, run.runId))!;
      for (let b = 1; b <= planned.plan!.batches; b++) {
        const contacts = (await svc.runFiles.readBatch(run.runId, b))!;
        // Every seventh contact could not be processed (named); or the whole batch failed.
        const named = contacts.map((c) => c.email).filter((email) => Number(/\d+/.exec(email)![0]) % 7 === 0);
        if (outcome === 'named') await svc.runFiles.addFailedEmails(run.runId, b, named);
        await svc.runs.updateBatch(run.runId, b, (st) =>
          outcome === 'whole'
            ? { ...st, status: 'failed', failed: st.contacts - st.unsubscribes, error: 'test' }
            : {
                ...st,
                status: 'completed',
                failed: named.length,
                upserted: st.contacts - st.unsubscribes - named.length,
                unsubscribed: st.unsubscribes,
              },
        );
      }
      await finalizeRun(svc, exp.id, run.runId);
      const state: string[] = [];
      for await (const entries of svc.exportState.entries(await svc.exportState.pointer(exp.id)))
        for (const [email, value] of entries)
          state.push(
            `${email} ${(unsubscribedAt(value) ?? 0) >= startedAt - 1_000 ? 'unsubscribed-now' : stateText(value)}`,
          );
      return state.sort();
    }
    const manyPasses = createServices(readConfig({ ...h.env, PLANNER_EMAILS_PER_PASS: '40' }));
    for (const outcome of ['named', 'whole'] as const) {
      const one = await endWith(h.svc, outcome);
      const many = await endWith(manyPasses, outcome);
      expect(many).toEqual(one);
      const values = new Map(one.map((line) => line.split(' ', 2) as [string, string]));
      // Leavers: unsubscribed now, or unknown (tried again) when their unsubscribe failed.
      expect(values.get('p801@example.com')).toBe(outcome === 'named' ? 'unsubscribed-now' : '-');
      expect(values.get('p805@example.com')).toBe('-');
      // A returner whose re-subscription failed keeps the marker of its unsubscribe.
      const marker = stateText(unsubscribedMarker(Date.parse('2026-11-01T00:00:00Z')));
      expect(values.get('p903@example.com')).toBe(marker);
      expect(values.get('p904@example.com')).toEqual(
        outcome === 'named' ? expect.stringMatching(/^[0-9a-f]{12}$/) : marker,
      );
      // A failed contact is left out (sent again next time); an unchanged one (not sent) keeps its fingerprint.
      expect(values.has('n7@example.com')).toBe(false);
      expect(values.get('p200@example.com')).toMatch(/^[0-9a-f]{12}$/);
      expect(values.has('n8@example.com')).toBe(outcome === 'named');
    }
  });
});
