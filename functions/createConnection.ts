import { app } from '@azure/functions';
import { createConnection, createConnectionSchema } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const createConnectionHandler = authorized('admin', async (request, principal) => {
  const input = await readBody(request, createConnectionSchema);
  const connection = await createConnection(services(), principal, input);
  return json(201, connection, { location: `/api/connections/${connection.id}` });
});

app.http('createConnection', {
  methods: ['POST'],
  route: apiRoute('connections'),
  authLevel: 'anonymous',
  handler: createConnectionHandler,
});
