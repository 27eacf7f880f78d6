import { app } from '@azure/functions';
import { deleteExport } from '../shared/exports/exportService.js';
import { apiRoute, authorized } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const deleteExportHandler = authorized('contributor', async (request, principal) => {
  await deleteExport(services(), principal, request.params.id);
  return { status: 204 };
});

app.http('deleteExport', {
  methods: ['DELETE'],
  route: apiRoute('exports/{id}'),
  authLevel: 'anonymous',
  handler: deleteExportHandler,
});
