import { app } from '@azure/functions';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';
import { listWebhooks } from '../shared/webhooks/webhookService.js';

export const listWebhooksHandler = authorized('admin', async () =>
  json(200, { value: await listWebhooks(services()) }),
);

app.http('listWebhooks', {
  methods: ['GET'],
  route: apiRoute('webhooks'),
  authLevel: 'anonymous',
  handler: listWebhooksHandler,
});
