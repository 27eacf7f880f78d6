import { Readable } from 'node:stream';
import { app } from '@azure/functions';
import { runChanges } from '../shared/exports/runService.js';
import { apiRoute, authorized } from '../shared/http/requests.js';
import { services } from '../shared/services.js';

export const getRunChangesHandler = authorized('contributor', async (request, principal) => {
  const file = await runChanges(services(), principal, request.params.id, request.params.runId);
  return {
    status: 200,
    body: Readable.toWeb(Readable.from(utf8(file.body))) as ReadableStream<Uint8Array>,
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${file.fileName}"`,
      'cache-control': 'no-store',
    },
  };
});

async function* utf8(lines: AsyncIterable<string>): AsyncGenerator<Buffer> {
  for await (const line of lines) yield Buffer.from(line, 'utf8');
}

app.http('getRunChanges', {
  methods: ['GET'],
  route: apiRoute('exports/{id}/runs/{runId}/changes'),
  authLevel: 'anonymous',
  handler: getRunChangesHandler,
});
