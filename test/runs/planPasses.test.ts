import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/config.js';
import { createExport } from '../../shared/exports/exportService.js';
import type { Export } from '../../shared/model.js';
import { planRun } from '../../shared/runs/planRun.js';
import { endRun, startRun } from '../../shared/runs/runLifecycle.js';
import { createServices, type AppServices } from '../../shared/services.js';
import { unsubscribedMarker } from '../../shared/sync/delta.js';
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
const first = () => ['email,first,city,phone', ...Array.from({ length: 1_000 }, (_, i) => row(`p${i}@example.com`, `P${i}`, 'Oslo'))].join('\n');

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

  /** Plans a run of `exp` with `svc` (nothing is sent), reads what it planned, commits its state as sent and ends it. */
  async function plan(svc: AppServices, exp: Export, commitSet = new Map<string, number>()): Promise<Planned> {
    const run = await startRun(svc, exp, { trigger: 'manual', confirmRemovals: true });
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
    const rejected = ((await svc.runFiles.readText(svc.runFiles.rejectedPath(run.runId))) ?? '').split('\n').slice(1).filter(Boolean).sort();
    const pointer = await svc.exportState.commit(exp.id, run.runId, { drop: new Set(), set: commitSet });
    const state: string[] = [];
    for await (const [email, value] of svc.exportState.entries(pointer)) state.push(`${email} ${value}`);
    await endRun(svc, exp.id, run.runId, 'cancelled', 'planned only');
    const passes = log.filter((m) => / pass \d+, /.test(m)).length || 1;
    return { counts: planned.counts as unknown as Record<string, number>, removals: planned.removals, contacts, returners: returners.sort(), rejected, state: state.sort(), passes };
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
        displayName: `passes ${++exports}`, connectionId, listId: 1, mode: 'mirror',
        source: { container: 'passes', path: 'seg.csv' }, mapping: { email: 'email', firstName: 'first', phone: 'phone', fields: { '1': 'city' } },
      });
      // The first run's state marks p900..p949 as unsubscribed by this export.
      const unsubscribed = new Map(Array.from({ length: 50 }, (_, i) => [`p${900 + i}@example.com`, unsubscribedMarker(Date.parse('2026-11-01T00:00:00Z'))]));
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
    expect(JSON.parse(one.contacts.get('p5@example.com')!)).toMatchObject({ first_name: 'P5', fields: [{ id: 1, value: 'Bergen' }] });
    expect(JSON.parse(one.contacts.get('n3@example.com')!)).toMatchObject({ first_name: 'N3' });
    expect([...many.contacts.entries()].sort()).toEqual([...one.contacts.entries()].sort());
    expect(one.returners).toHaveLength(50);
    expect(many.returners).toEqual(one.returners);
    expect(one.rejected).toHaveLength(9);
    expect(many.rejected).toEqual(one.rejected);
    // The planned state holds every accepted email of the snapshot (leavers join it only when their unsubscribe is sent).
    expect(one.state).toHaveLength(100 + 700 + 100 + 294);
    expect(many.state).toEqual(one.state);
  });
});
