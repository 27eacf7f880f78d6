import { app, type InvocationContext } from '@azure/functions';
import { services } from '../shared/services.js';
import { deliverWebhook } from '../shared/webhooks/webhookDelivery.js';
import { WEBHOOK_QUEUE } from '../shared/webhooks/webhookModel.js';

/** One run webhook to one endpoint; a failed one comes back on the queue after its delay. */
export async function deliverWebhookHandler(message: unknown, context: InvocationContext): Promise<void> {
  await deliverWebhook({ ...services(), log: (m) => context.log(m) }, message, (m) => context.log(m));
}

app.storageQueue('deliverWebhook', {
  queueName: WEBHOOK_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: deliverWebhookHandler,
});
