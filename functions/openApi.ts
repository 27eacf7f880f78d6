import { app, type HttpResponseInit } from '@azure/functions';
import { apiRoute } from '../shared/http/requests.js';
import { openApiDocument } from '../shared/http/openApiDocument.js';

export function openApi(): HttpResponseInit {
  return { status: 200, jsonBody: openApiDocument() };
}

app.http('openApi', { methods: ['GET'], route: apiRoute('openapi.json'), authLevel: 'anonymous', handler: openApi });
