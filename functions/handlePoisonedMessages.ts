import { app, type InvocationContext } from '@azure/functions';
import { handlePoisoned } from '../shared/runs/poisonedMessages.js';
import { poisonQueue, QUEUES, type QueueName } from '../shared/runs/runQueues.js';
import { services } from '../shared/services.js';

/** One handler per poison queue (`<queue>-poison`): the work comes back or ends; it never throws. */
function poisonHandler(queue: QueueName) {
  return async (raw: unknown, context: InvocationContext): Promise<void> => {
    await handlePoisoned(services(), queue, raw, (m) => context.warn(m));
  };
}

export const handlePoisonedPlan = poisonHandler(QUEUES.plan);
export const handlePoisonedBatch = poisonHandler(QUEUES.batches);
export const handlePoisonedImportCheck = poisonHandler(QUEUES.importCheck);
export const handlePoisonedWatch = poisonHandler(QUEUES.watch);

const registration = (queue: QueueName, handler: ReturnType<typeof poisonHandler>) => ({
  queueName: poisonQueue(queue),
  connection: 'AzureWebJobsStorage',
  handler,
});
app.storageQueue('handlePoisonedPlan', registration(QUEUES.plan, handlePoisonedPlan));
app.storageQueue('handlePoisonedBatch', registration(QUEUES.batches, handlePoisonedBatch));
app.storageQueue('handlePoisonedImportCheck', registration(QUEUES.importCheck, handlePoisonedImportCheck));
app.storageQueue('handlePoisonedWatch', registration(QUEUES.watch, handlePoisonedWatch));
