import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { NotFoundError } from '../shared/errors.js';
import { errorResponse } from '../shared/http/apiError.js';
import { consoleFile } from '../shared/http/consoleAssets.js';
import { withApiHeaders } from '../shared/http/requests.js';

/** The admin console at the app's root URL (its files; it talks to the app through /api only). */
export async function serveConsole(request: HttpRequest): Promise<HttpResponseInit> {
  const path = new URL(request.url).pathname;
  // A route of the API that does not exist answers like the API does.
  if (path === '/api' || path.startsWith('/api/'))
    return withApiHeaders(errorResponse(new NotFoundError(`The route ${path}`)));
  return consoleFile(path, undefined, request.headers.get('accept-encoding') ?? '');
}

app.http('console', { methods: ['GET'], route: '{*path}', authLevel: 'anonymous', handler: serveConsole });
