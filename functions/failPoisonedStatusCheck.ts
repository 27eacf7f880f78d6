import { app, type InvocationContext } from '@azure/functions';
import { parseStatusMessage } from '../shared/runs/messages.js';
import { failPoisonedBatch } from '../shared/runs/poisonedMessages.js';
import { services } from '../shared/services.js';
import { poisonQueue, QUEUES } from '../shared/store/workQueues.js';

export async function failPoisonedStatusCheckHandler(message: unknown, context: InvocationContext): Promise<void> {
  await failPoisonedBatch(services(), parseStatusMessage(message), poisonQueue(QUEUES.status), (m) => context.warn(m));
}

app.storageQueue('failPoisonedStatusCheck', { queueName: poisonQueue(QUEUES.status), connection: 'AzureWebJobsStorage', handler: failPoisonedStatusCheckHandler });
