import { app } from '@azure/functions';
import { apiRoute, authorized } from '../shared/http/requests.js';
import { services } from '../shared/services.js';
import { deleteWebhook } from '../shared/webhooks/webhookService.js';

export const deleteWebhookHandler = authorized('admin', async (request, principal) => {
  await deleteWebhook(services(), principal, request.params.id);
  return { status: 204 };
});

app.http('deleteWebhook', {
  methods: ['DELETE'],
  route: apiRoute('webhooks/{id}'),
  authLevel: 'anonymous',
  handler: deleteWebhookHandler,
});
