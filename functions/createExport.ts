import { app } from '@azure/functions';
import { createExportSchema } from '../shared/exports/exportSchema.js';
import { createExport } from '../shared/exports/exportService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const createExportHandler = authorized('contributor', async (request, principal) => {
  const input = await readBody(request, createExportSchema);
  const exp = await createExport(services(), principal, input);
  return json(201, exp, { location: `/api/exports/${exp.id}` });
});

app.http('createExport', {
  methods: ['POST'],
  route: apiRoute('exports'),
  authLevel: 'anonymous',
  handler: createExportHandler,
});
