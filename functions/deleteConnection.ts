import { app } from '@azure/functions';
import { deleteConnection } from '../shared/connections/connectionService.js';
import { apiRoute, authorized } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const deleteConnectionHandler = authorized('admin', async (request, principal) => {
  await deleteConnection(services(), principal, request.params.id);
  return { status: 204 };
});

app.http('deleteConnection', {
  methods: ['DELETE'],
  route: apiRoute('connections/{id}'),
  authLevel: 'anonymous',
  handler: deleteConnectionHandler,
});
