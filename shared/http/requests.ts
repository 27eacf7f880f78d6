import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { isAdmin, isContributor, readPrincipal, type Principal } from '../auth/principal.js';
import { ApiError, badRequest, errorResponse } from './apiError.js';

/** Request bodies larger than this are refused before parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

export type AuthorizedHandler = (request: HttpRequest, principal: Principal, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * Wraps an HTTP handler: reads the caller (401 without one, 403 below `minimum`), and maps typed
 * errors to the API's error shape. Handlers stay thin and never build error bodies themselves.
 */
export function authorized(minimum: 'admin' | 'contributor', handler: AuthorizedHandler) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const principal = readPrincipal(request.headers.get('x-ms-client-principal'));
      if (!principal) throw new ApiError(401, 'Unauthorized', 'Sign in first: no client principal on the request');
      const allowed = minimum === 'admin' ? isAdmin(principal) : isContributor(principal);
      if (!allowed) throw new ApiError(403, 'Forbidden', `This needs the Exports.${minimum === 'admin' ? 'Admin' : 'Contributor'} role`);
      return await handler(request, principal, context);
    } catch (error) {
      return errorResponse(error, (m) => context.error(m));
    }
  };
}

/** Parses and validates a JSON body against a schema (unknown fields refused by the schema). */
export async function readBody<T extends z.ZodType>(request: HttpRequest, schema: T, options: { optional?: boolean } = {}): Promise<z.infer<T>> {
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new ApiError(400, 'PayloadTooLarge', `The body is larger than ${MAX_BODY_BYTES} bytes`);
  let value: unknown = {};
  if (text.trim()) {
    try {
      value = JSON.parse(text);
    } catch {
      throw badRequest('The body is not valid JSON', 'InvalidJson');
    }
  } else if (!options.optional) {
    throw badRequest('A JSON body is required', 'InvalidJson');
  }
  return schema.parse(value);
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): HttpResponseInit => ({ status, jsonBody: body, headers });
