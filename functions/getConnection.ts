import { app } from '@azure/functions';
import { getConnection } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const getConnectionHandler = authorized('contributor', async (request, principal) =>
  json(200, await getConnection(services(), principal, request.params.id)),
);

app.http('getConnection', {
  methods: ['GET'],
  route: apiRoute('connections/{id}'),
  authLevel: 'anonymous',
  handler: getConnectionHandler,
});
