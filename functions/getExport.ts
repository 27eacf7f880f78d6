import { app } from '@azure/functions';
import { describeExport } from '../shared/exports/exportService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const getExportHandler = authorized('contributor', async (request, principal) =>
  json(200, await describeExport(services(), principal, request.params.id)),
);

app.http('getExport', {
  methods: ['GET'],
  route: apiRoute('exports/{id}'),
  authLevel: 'anonymous',
  handler: getExportHandler,
});
