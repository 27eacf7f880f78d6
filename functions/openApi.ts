import { app, type HttpResponseInit } from '@azure/functions';
import { openApiDocument } from '../shared/http/openApiDocument.js';

export async function openApi(): Promise<HttpResponseInit> {
  return { status: 200, jsonBody: openApiDocument() };
}

app.http('openApi', { methods: ['GET'], route: 'openapi.json', authLevel: 'anonymous', handler: openApi });
