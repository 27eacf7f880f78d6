import { app } from '@azure/functions';
import { listConnections } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const listConnectionsHandler = authorized('contributor', async (_request, principal) =>
  json(200, { value: await listConnections(services(), principal) }),
);

app.http('listConnections', {
  methods: ['GET'],
  route: apiRoute('connections'),
  authLevel: 'anonymous',
  handler: listConnectionsHandler,
});
