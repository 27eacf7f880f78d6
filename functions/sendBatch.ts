import { app, type InvocationContext } from '@azure/functions';
import { parseBatchMessage } from '../shared/runs/messages.js';
import { sendBatch } from '../shared/runs/sendBatch.js';
import { services } from '../shared/services.js';
import { QUEUES } from '../shared/store/workQueues.js';

export async function sendBatchHandler(message: unknown, context: InvocationContext): Promise<void> {
  await sendBatch(services(), parseBatchMessage(message), (m) => context.log(m));
}

app.storageQueue('sendBatch', { queueName: QUEUES.batches, connection: 'AzureWebJobsStorage', handler: sendBatchHandler });
