import { app } from '@azure/functions';
import { listErasures } from '../shared/erasures/erasureService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const listErasuresHandler = authorized('admin', async () =>
  json(200, { value: await listErasures(services()) }),
);

app.http('listErasures', {
  methods: ['GET'],
  route: apiRoute('erasures'),
  authLevel: 'anonymous',
  handler: listErasuresHandler,
});
