import { app } from '@azure/functions';
import { createList, createListSchema } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const createConnectionListHandler = authorized('contributor', async (request, principal) => {
  const input = await readBody(request, createListSchema);
  return json(201, await createList(services(), principal, request.params.id, input));
});

app.http('createConnectionList', {
  methods: ['POST'],
  route: apiRoute('connections/{id}/lists'),
  authLevel: 'anonymous',
  handler: createConnectionListHandler,
});
