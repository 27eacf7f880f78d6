import { app, type InvocationContext } from '@azure/functions';
import { parsePlanMessage } from '../shared/runs/messages.js';
import { failPoisonedPlan } from '../shared/runs/poisonedMessages.js';
import { services } from '../shared/services.js';
import { poisonQueue, QUEUES } from '../shared/store/workQueues.js';

export async function failPoisonedPlanHandler(message: unknown, context: InvocationContext): Promise<void> {
  await failPoisonedPlan(services(), parsePlanMessage(message), (m) => context.warn(m));
}

app.storageQueue('failPoisonedPlan', { queueName: poisonQueue(QUEUES.plan), connection: 'AzureWebJobsStorage', handler: failPoisonedPlanHandler });
