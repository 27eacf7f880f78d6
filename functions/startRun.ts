import { app } from '@azure/functions';
import { startRunSchema } from '../shared/exports/exportSchema.js';
import { startManualRun } from '../shared/exports/runService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const startRunHandler = authorized('contributor', async (request, principal) => {
  const input = await readBody(request, startRunSchema, { optional: true });
  const run = await startManualRun(services(), principal, request.params.id, input);
  return json(
    202,
    { runId: run.runId, status: run.status },
    { location: `/api/exports/${run.exportId}/runs/${run.runId}` },
  );
});

app.http('startRun', {
  methods: ['POST'],
  route: apiRoute('exports/{id}/runs'),
  authLevel: 'anonymous',
  handler: startRunHandler,
});
