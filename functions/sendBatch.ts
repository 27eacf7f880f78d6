import { app, type InvocationContext } from '@azure/functions';
import { parseBatchMessage, splitBatchMessage } from '../shared/runs/messages.js';
import { sendBatch } from '../shared/runs/sendBatch.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';
import { QUEUES } from '../shared/store/workQueues.js';

export async function sendBatchHandler(message: unknown, context: InvocationContext): Promise<void> {
  const parsed = parseBatchMessage(message);
  // A failure of one batch of a group fails the message: the redelivery skips the batches already sent.
  await Promise.all(splitBatchMessage(parsed).map((one) => sendBatch(services(), one, runLog((m) => context.log(m), one))));
}

app.storageQueue('sendBatch', { queueName: QUEUES.batches, connection: 'AzureWebJobsStorage', handler: sendBatchHandler });
