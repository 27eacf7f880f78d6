import { app } from '@azure/functions';
import { checkConnection, checkConnectionSchema } from '../shared/connections/connectionService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

/** The console's "Connect": is this key accepted for this hostname? Nothing is saved. */
export const checkConnectionHandler = authorized('admin', async (request) => {
  const input = await readBody(request, checkConnectionSchema);
  return json(200, await checkConnection(services(), input));
});

app.http('checkConnection', {
  methods: ['POST'],
  route: apiRoute('connections/check'),
  authLevel: 'anonymous',
  handler: checkConnectionHandler,
});
