import { app } from '@azure/functions';
import { listRunsQuery } from '../shared/exports/exportSchema.js';
import { listRuns } from '../shared/exports/runService.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const listRunsHandler = authorized('contributor', async (request, principal) => {
  const page = listRunsQuery.parse(Object.fromEntries(request.query.entries()));
  return json(200, await listRuns(services(), principal, request.params.id, page));
});

app.http('listRuns', {
  methods: ['GET'],
  route: apiRoute('exports/{id}/runs'),
  authLevel: 'anonymous',
  handler: listRunsHandler,
});
