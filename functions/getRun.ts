import { app } from '@azure/functions';
import { getRun } from '../shared/exports/runService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const getRunHandler = authorized('contributor', async (request, principal) =>
  json(200, await getRun(services(), principal, request.params.id, request.params.runId)),
);

app.http('getRun', {
  methods: ['GET'],
  route: apiRoute('exports/{id}/runs/{runId}'),
  authLevel: 'anonymous',
  handler: getRunHandler,
});
