import { app } from '@azure/functions';
import { listAudit } from '../shared/audit/auditLog.js';
import { listRunsQuery } from '../shared/exports/exportSchema.js';
import { apiRoute, authorized, json } from '../shared/http/requests.js';
import { services } from '../shared/services.js';
import { isTablePageToken } from '../shared/store/runStore.js';

export const listAuditHandler = authorized('admin', async (request) => {
  const page = listRunsQuery.parse(Object.fromEntries(request.query.entries()));
  return json(200, await listAudit(services(), page, isTablePageToken));
});

app.http('listAudit', {
  methods: ['GET'],
  route: apiRoute('audit'),
  authLevel: 'anonymous',
  handler: listAuditHandler,
});
