import { app, type InvocationContext } from '@azure/functions';
import { parseBatchMessage } from '../shared/runs/messages.js';
import { sendBatch } from '../shared/runs/sendBatch.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';
import { QUEUES } from '../shared/store/workQueues.js';

export async function sendBatchHandler(message: unknown, context: InvocationContext): Promise<void> {
  const batch = parseBatchMessage(message);
  await sendBatch(services(), batch, runLog((m) => context.log(m), batch));
}

app.storageQueue('sendBatch', { queueName: QUEUES.batches, connection: 'AzureWebJobsStorage', handler: sendBatchHandler });
