import { app } from '@azure/functions';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';
import { testWebhook } from '../shared/webhooks/webhookService.js';

/** Sends a sample event now and answers with what the endpoint did (200 either way: the request itself worked). */
export const testWebhookHandler = authorized('admin', async (request, principal) =>
  json(200, await testWebhook(services(), principal, request.params.id)),
);

app.http('testWebhook', {
  methods: ['POST'],
  route: apiRoute('webhooks/{id}/test'),
  authLevel: 'anonymous',
  handler: testWebhookHandler,
});
