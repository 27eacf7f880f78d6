import { app } from '@azure/functions';
import { listRuns } from '../shared/exports/exportService.js';
import { authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const listRunsHandler = authorized('contributor', async (request, principal) =>
  json(200, { value: await listRuns(services(), principal, request.params.id) }),
);

app.http('listRuns', { methods: ['GET'], route: 'exports/{id}/runs', authLevel: 'anonymous', handler: listRunsHandler });
