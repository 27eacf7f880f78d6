import { app, type InvocationContext } from '@azure/functions';
import { parseBatchMessage, splitBatchMessage } from '../shared/runs/messages.js';
import { failPoisonedBatch } from '../shared/runs/poisonedMessages.js';
import { services } from '../shared/services.js';
import { poisonQueue, QUEUES } from '../shared/store/workQueues.js';

export async function failPoisonedBatchHandler(message: unknown, context: InvocationContext): Promise<void> {
  for (const one of splitBatchMessage(parseBatchMessage(message))) {
    await failPoisonedBatch(services(), one, poisonQueue(QUEUES.batches), (m) => context.warn(m));
  }
}

app.storageQueue('failPoisonedBatch', { queueName: poisonQueue(QUEUES.batches), connection: 'AzureWebJobsStorage', handler: failPoisonedBatchHandler });
