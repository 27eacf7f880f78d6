import { app, type InvocationContext } from '@azure/functions';
import { parseSnapshotCheck, SEGMENT_QUEUES } from '../shared/runs/runQueues.js';
import { checkSnapshot } from '../shared/runs/segmentEvents.js';
import { services } from '../shared/services.js';

/** An export's look at its source after a blob event: starts a run once the new snapshot is complete. */
export async function checkSnapshotHandler(raw: unknown, context: InvocationContext): Promise<void> {
  const message = parseSnapshotCheck(raw);
  if (!message) {
    context.warn(`Not an ${SEGMENT_QUEUES.checks} message; dropped: ${JSON.stringify(raw)?.slice(0, 200)}`);
    return;
  }
  await checkSnapshot(services(), message, (m) => context.log(m));
}

app.storageQueue('checkSnapshot', {
  queueName: SEGMENT_QUEUES.checks,
  connection: 'AzureWebJobsStorage',
  handler: checkSnapshotHandler,
});
