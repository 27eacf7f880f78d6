import { app } from '@azure/functions';
import { erase, erasureSchema } from '../shared/erasures/erasureService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const createErasureHandler = authorized('admin', async (request, principal) => {
  const input = await readBody(request, erasureSchema);
  return json(201, await erase(services(), principal, input));
});

app.http('createErasure', {
  methods: ['POST'],
  route: apiRoute('erasures'),
  authLevel: 'anonymous',
  handler: createErasureHandler,
});
