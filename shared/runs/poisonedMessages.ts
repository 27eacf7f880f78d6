import type { AppServices } from '../services.js';
import { failRun, completeBatch } from './runLifecycle.js';
import type { BatchMessage, PlanMessage } from './messages.js';
import { TELEMETRY } from '../telemetry.js';

/**
 * A message the host gave up on (after maxDequeueCount failures) lands in `<queue>-poison`. These
 * handlers end what it stood for, so that no batch is silently lost and no run waits for ever
 * holding its export's lease.
 */
export async function failPoisonedPlan(svc: AppServices, message: PlanMessage, log: (m: string) => void = () => {}): Promise<void> {
  log(`Plan message of run ${message.runId} was poisoned; failing the run`);
  svc.telemetry.event(TELEMETRY.events.poisonMessage, { queue: 'export-plan', exportId: message.exportId, runId: message.runId });
  await failRun(svc, message.exportId, message.runId, 'Planning failed repeatedly; see the logs of the planRun function');
}

export async function failPoisonedBatch(svc: AppServices, message: BatchMessage, queue: string, log: (m: string) => void = () => {}): Promise<void> {
  const state = await svc.runs.getBatch(message.runId, message.batch);
  if (!state) return;
  log(`Batch ${message.batch} of run ${message.runId} was poisoned; recording it as failed`);
  svc.telemetry.event(TELEMETRY.events.poisonMessage, { queue, exportId: message.exportId, runId: message.runId, batch: message.batch });
  await completeBatch(svc, message.exportId, message.runId, message.batch, {
    status: 'failed',
    rejected: state.rejected,
    upserted: 0,
    unsubscribed: 0,
    failed: Math.max(0, state.contacts - state.rejected - state.unsubscribes),
    error: 'Processing failed repeatedly (poison message); see the logs',
  });
}
