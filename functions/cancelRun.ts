import { app } from '@azure/functions';
import { cancelRun } from '../shared/exports/runService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const cancelRunHandler = authorized('contributor', async (request, principal) =>
  json(202, await cancelRun(services(), principal, request.params.id, request.params.runId)),
);

app.http('cancelRun', {
  methods: ['POST'],
  route: apiRoute('exports/{id}/runs/{runId}/cancel'),
  authLevel: 'anonymous',
  handler: cancelRunHandler,
});
