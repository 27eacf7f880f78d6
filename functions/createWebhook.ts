import { app } from '@azure/functions';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';
import { createWebhook, createWebhookSchema } from '../shared/webhooks/webhookService.js';

export const createWebhookHandler = authorized('admin', async (request, principal) => {
  const input = await readBody(request, createWebhookSchema);
  const webhook = await createWebhook(services(), principal, input);
  return json(201, webhook, { location: `/api/webhooks/${webhook.id}` });
});

app.http('createWebhook', {
  methods: ['POST'],
  route: apiRoute('webhooks'),
  authLevel: 'anonymous',
  handler: createWebhookHandler,
});
