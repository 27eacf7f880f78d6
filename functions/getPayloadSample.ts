import { app } from '@azure/functions';
import { payloadSample } from '../shared/exports/runService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const getPayloadSampleHandler = authorized('contributor', async (request, principal) =>
  json(200, await payloadSample(services(), principal, request.params.id, request.params.runId)),
);

app.http('getPayloadSample', {
  methods: ['GET'],
  route: apiRoute('exports/{id}/runs/{runId}/sample'),
  authLevel: 'anonymous',
  handler: getPayloadSampleHandler,
});
