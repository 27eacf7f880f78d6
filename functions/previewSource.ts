import { app } from '@azure/functions';
import { previewSchema } from '../shared/exports/exportSchema.js';
import { checkSource } from '../shared/exports/exportService.js';
import { apiRoute, authorized, json, readBody } from '../shared/http/requests.js';
import { previewSource } from '../shared/segments/preview.js';
import { services } from '../shared/services.js';

export const previewSourceHandler = authorized('contributor', async (request) => {
  const svc = services();
  const source = checkSource(svc, await readBody(request, previewSchema));
  const { segmentsContainers: allowedContainers, snapshotQuietPeriodInMs: quietPeriodInMs } = svc.config;
  return json(200, {
    source,
    ...(await previewSource(svc.segments.blobs, source, { allowedContainers, quietPeriodInMs })),
  });
});

app.http('previewSource', {
  methods: ['POST'],
  route: apiRoute('sources/preview'),
  authLevel: 'anonymous',
  handler: previewSourceHandler,
});
