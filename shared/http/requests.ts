import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { isAdmin, isContributor, readPrincipal, type Principal } from '../auth/principal.js';
import { ApiError, errorResponse } from './apiError.js';

/**
 * The API's routes live under /api; the host's own prefix is empty (host.json routePrefix "") so
 * that the console can be served at the app's root URL by the same app.
 */
export const apiRoute = (path: string) => `api/${path}`;

/** Request bodies larger than this are refused before parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

const STATE_CHANGING = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

export type AuthorizedHandler = (
  request: HttpRequest,
  principal: Principal,
  context: InvocationContext,
) => HttpResponseInit | Promise<HttpResponseInit>;

/**
 * Wraps an HTTP handler: refuses a state-changing call that is not `application/json` (a form on
 * another site cannot send that type without a CORS preflight, which the app never grants, so a
 * browser's session cookie cannot be used against it), reads the caller (401 without one, 403
 * below `minimum`), and maps typed errors to the API's error shape.
 */
export function authorized(minimum: 'admin' | 'contributor' | 'signedIn', handler: AuthorizedHandler) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      requireJsonContentType(request);
      const principal = readPrincipal(request.headers.get('x-ms-client-principal'));
      if (!principal) throw new ApiError(401, 'Unauthorized', 'Sign in first: no client principal on the request');
      const allowed = minimum === 'signedIn' || (minimum === 'admin' ? isAdmin(principal) : isContributor(principal));
      if (!allowed)
        throw new ApiError(
          403,
          'Forbidden',
          `This needs the Exports.${minimum === 'admin' ? 'Admin' : 'Contributor'} role`,
        );
      return withApiHeaders(await handler(request, principal, context));
    } catch (error) {
      return withApiHeaders(errorResponse(error, (m) => context.error(m)));
    }
  };
}

/** Every API answer: never sniffed as another type, never cached (it may hold personal data). */
export function withApiHeaders(response: HttpResponseInit): HttpResponseInit {
  return {
    ...response,
    headers: {
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      ...(response.headers as Record<string, string> | undefined),
    },
  };
}

export function requireJsonContentType(request: HttpRequest): void {
  if (!STATE_CHANGING.has(request.method.toUpperCase())) return;
  const type = (request.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `${request.method} calls must send "content-type: application/json"${type ? `, not "${type}"` : ''}`,
    );
  }
}

/** Parses and validates a JSON body against a schema (unknown fields refused by the schema). */
export async function readBody<T extends z.ZodType>(
  request: HttpRequest,
  schema: T,
  options: { optional?: boolean } = {},
): Promise<z.infer<T>> {
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES)
    throw new ApiError(400, 'PayloadTooLarge', `The body is larger than ${MAX_BODY_BYTES} bytes`);
  let value: unknown = {};
  if (text.trim()) {
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'InvalidJson', 'The body is not valid JSON');
    }
  } else if (!options.optional) {
    throw new ApiError(400, 'InvalidJson', 'A JSON body is required');
  }
  return schema.parse(value);
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): HttpResponseInit => ({
  status,
  jsonBody: body,
  headers,
});
