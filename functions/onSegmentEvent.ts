import { app, type InvocationContext } from '@azure/functions';
import { SEGMENT_QUEUES } from '../shared/runs/runQueues.js';
import { onSegmentEvent } from '../shared/runs/segmentEvents.js';
import { services } from '../shared/services.js';

/** A blob-created event of the segments storage (Event Grid, or the local runner's copy of it). */
export async function onSegmentEventHandler(raw: unknown, context: InvocationContext): Promise<void> {
  await onSegmentEvent(services(), raw, (m) => context.log(m));
}

app.storageQueue('onSegmentEvent', {
  queueName: SEGMENT_QUEUES.events,
  connection: 'AzureWebJobsStorage',
  handler: onSegmentEventHandler,
});
