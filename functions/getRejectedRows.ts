import { Readable } from 'node:stream';
import { app } from '@azure/functions';
import { rejectedRows } from '../shared/exports/runService.js';
import { apiRoute, authorized } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const getRejectedRowsHandler = authorized('contributor', async (request, principal) => {
  const file = await rejectedRows(services(), principal, request.params.id, request.params.runId);
  return {
    status: 200,
    body: Readable.toWeb(Readable.from(file.body as AsyncIterable<Buffer>)) as ReadableStream<Uint8Array>,
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${file.fileName}"`,
      'cache-control': 'no-store',
    },
  };
});

app.http('getRejectedRows', {
  methods: ['GET'],
  route: apiRoute('exports/{id}/runs/{runId}/rejected'),
  authLevel: 'anonymous',
  handler: getRejectedRowsHandler,
});
