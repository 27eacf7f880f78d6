import type { HttpResponseInit } from '@azure/functions';
import { ZodError } from 'zod';

/** An error the API answers with `{"error":{"code","message"}}` and its status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'BadRequest') => new ApiError(400, code, message);
export const notFound = (what: string) => new ApiError(404, 'NotFound', `${what} was not found`);

export function errorResponse(error: unknown, log: (m: string) => void = () => {}): HttpResponseInit {
  if (error instanceof ApiError) {
    return { status: error.status, jsonBody: { error: { code: error.code, message: error.message }, ...error.extra } };
  }
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    const field = issue.path.join('.') || 'body';
    return { status: 400, jsonBody: { error: { code: 'InvalidRequest', message: `${field}: ${issue.message}` } } };
  }
  log(`Unhandled error: ${(error as Error)?.stack ?? String(error)}`);
  return { status: 500, jsonBody: { error: { code: 'InternalError', message: 'The request failed; see the logs for details' } } };
}
