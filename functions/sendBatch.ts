import { app, type InvocationContext } from '@azure/functions';
import { QUEUES, readMessage, splitBatchMessage } from '../shared/runs/runQueues.js';
import { sendBatch } from '../shared/runs/sendBatch.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';

export async function sendBatchHandler(raw: unknown, context: InvocationContext): Promise<void> {
  const message = readMessage(QUEUES.batches, raw, (m) => context.warn(m));
  if (!message) return;
  // Each batch of a group on its own; one that throws fails the message, and the redelivery skips those already sent.
  await Promise.all(
    splitBatchMessage(message).map((one) =>
      sendBatch(
        services(),
        one,
        runLog((m) => context.log(m), one),
      ),
    ),
  );
}

app.storageQueue('sendBatch', {
  queueName: QUEUES.batches,
  connection: 'AzureWebJobsStorage',
  handler: sendBatchHandler,
});
