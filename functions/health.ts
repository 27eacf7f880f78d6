import { app, type HttpResponseInit } from '@azure/functions';
import { apiRoute } from '../shared/http/requests.js';

export function health(): HttpResponseInit {
  return { status: 200, jsonBody: { status: 'ok' } };
}

app.http('health', { methods: ['GET'], route: apiRoute('health'), authLevel: 'anonymous', handler: health });
