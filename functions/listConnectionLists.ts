import { app } from '@azure/functions';
import { listLists } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const listConnectionListsHandler = authorized('contributor', async (request, principal) =>
  json(200, { value: await listLists(services(), principal, request.params.id) }),
);

app.http('listConnectionLists', {
  methods: ['GET'],
  route: apiRoute('connections/{id}/lists'),
  authLevel: 'anonymous',
  handler: listConnectionListsHandler,
});
