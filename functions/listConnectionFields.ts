import { app } from '@azure/functions';
import { listFields } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const listConnectionFieldsHandler = authorized('contributor', async (request, principal) =>
  json(200, { value: await listFields(services(), principal, request.params.id) }),
);

app.http('listConnectionFields', {
  methods: ['GET'],
  route: apiRoute('connections/{id}/fields'),
  authLevel: 'anonymous',
  handler: listConnectionFieldsHandler,
});
