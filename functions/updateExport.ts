import { app } from '@azure/functions';
import { updateExportSchema } from '../shared/exports/exportSchema.js';
import { updateExport } from '../shared/exports/exportService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const updateExportHandler = authorized('contributor', async (request, principal) => {
  const input = await readBody(request, updateExportSchema);
  return json(200, await updateExport(services(), principal, request.params.id, input));
});

app.http('updateExport', {
  methods: ['PATCH'],
  route: apiRoute('exports/{id}'),
  authLevel: 'anonymous',
  handler: updateExportHandler,
});
