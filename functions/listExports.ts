import { app } from '@azure/functions';
import { listExports } from '../shared/exports/exportService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const listExportsHandler = authorized('contributor', async (_request, principal) =>
  json(200, { value: await listExports(services(), principal) }),
);

app.http('listExports', {
  methods: ['GET'],
  route: apiRoute('exports'),
  authLevel: 'anonymous',
  handler: listExportsHandler,
});
