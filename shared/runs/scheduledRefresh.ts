import type { Export } from '../model.js';
import { SegmentError } from '../segments/segmentError.js';
import { locateSnapshot } from '../segments/snapshot.js';
import type { AppServices } from '../services.js';
import { enqueueWatch, startRun } from './runLifecycle.js';
import { RunActiveError } from './runStore.js';

export interface RefreshResult {
  started: { exportId: string; runId: string }[];
  skipped: { exportId: string; reason: string }[];
}

const SUCCESSFUL = new Set(['completed', 'completedWithErrors']);

/**
 * One scheduled refresh: starts a run for each `refresh` export whose newest snapshot differs from
 * the one its last successful run exported. The run lease makes overlapping ticks (or a tick and
 * an on-demand start) harmless, and a missed tick is caught up by the next.
 */
export async function refreshExports(svc: AppServices, log: (m: string) => void = () => {}): Promise<RefreshResult> {
  const result: RefreshResult = { started: [], skipped: [] };
  for (const exp of await svc.exports.list()) {
    if (exp.schedule !== 'refresh') continue;
    try {
      const reason = await whyNotRefresh(svc, exp);
      if (reason) {
        result.skipped.push({ exportId: exp.id, reason });
        continue;
      }
      const run = await startRun(svc, exp, { trigger: 'schedule' });
      result.started.push({ exportId: exp.id, runId: run.runId });
      log(`Scheduled refresh started run ${run.runId} of export ${exp.id}`);
    } catch (error) {
      if (error instanceof RunActiveError) {
        result.skipped.push({ exportId: exp.id, reason: `run ${error.runId} is active` });
        continue;
      }
      // One broken export must not stop the refresh of the others.
      log(`Scheduled refresh of export ${exp.id} failed: ${(error as Error).message}`);
      result.skipped.push({ exportId: exp.id, reason: (error as Error).message });
    }
  }
  return result;
}

/** A sending run whose watcher has been silent this long gets a new watcher message. */
const STALLED_AFTER_IN_MS = 10 * 60_000;

async function whyNotRefresh(svc: AppServices, exp: Export): Promise<string | undefined> {
  const active = await svc.runs.activeRunId(exp.id);
  if (active) {
    // A watcher message lost for good (poisoned) would leave the run, and its lease, waiting for ever.
    const run = await svc.runs.getRun(exp.id, active);
    const last = Date.parse(run?.lastProgressAt ?? run?.startedAt ?? '');
    if (run?.status === 'sending' && Date.now() - last > STALLED_AFTER_IN_MS) await enqueueWatch(svc, exp.id, active);
    return `run ${active} is active`;
  }
  let snapshotId: string;
  try {
    snapshotId = (await locateSnapshot(svc.segments.blobs, exp.source)).id;
  } catch (error) {
    if (error instanceof SegmentError) return `no snapshot: ${error.message}`;
    throw error;
  }
  for (const run of await svc.runs.listRuns(exp.id, 20)) {
    if (SUCCESSFUL.has(run.status) && !run.dryRun) return run.snapshot?.id === snapshotId ? 'snapshot already exported' : undefined;
  }
  return undefined;
}
