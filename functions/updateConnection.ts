import { app } from '@azure/functions';
import { updateConnection, updateConnectionSchema } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const updateConnectionHandler = authorized('admin', async (request, principal) => {
  const input = await readBody(request, updateConnectionSchema);
  return json(200, await updateConnection(services(), principal, request.params.id, input));
});

app.http('updateConnection', {
  methods: ['PATCH'],
  route: apiRoute('connections/{id}'),
  authLevel: 'anonymous',
  handler: updateConnectionHandler,
});
