import { app, type InvocationContext } from '@azure/functions';
import { QUEUES, readMessage } from '../shared/runs/runQueues.js';
import { sendBatches } from '../shared/runs/sendBatch.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';

export async function sendBatchHandler(raw: unknown, context: InvocationContext): Promise<void> {
  const message = readMessage(QUEUES.batches, raw, (m) => context.warn(m));
  if (message) await sendBatches(services(), message, (one) => runLog((m) => context.log(m), one));
}

app.storageQueue('sendBatch', {
  queueName: QUEUES.batches,
  connection: 'AzureWebJobsStorage',
  handler: sendBatchHandler,
});
