import type { HttpResponseInit } from '@azure/functions';
import { ZodError } from 'zod';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  UpstreamError,
} from '../errors.js';

/** An error of the HTTP layer itself (no caller, wrong content type, body too large). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Issue = ZodError['issues'][number] & {
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  expected?: string;
  values?: unknown[];
  keys?: string[];
  errors?: Issue[][];
};

const KINDS: Record<string, string> = {
  int: 'a whole number',
  number: 'a number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
  bigint: 'a whole number',
};

/**
 * A validation issue in the words a person filling a form would use: never zod's own ("Too small: expected number to
 * be >0").
 */
export function plainWords(issue: Issue): string {
  const i = issue;
  const kind = KINDS[i.expected ?? ''] ?? `a ${i.expected}`;
  if (i.code === 'too_small' && i.origin === 'string' && Number(i.minimum) === 1) return 'is required';
  if (i.code === 'too_small' && i.origin === 'string') return `must be at least ${i.minimum} characters`;
  if (i.code === 'too_big' && i.origin === 'string') return `must be at most ${i.maximum} characters`;
  if (i.code === 'too_small' && i.origin === 'number')
    return i.inclusive === false ? `must be more than ${i.minimum}` : `must be at least ${i.minimum}`;
  if (i.code === 'too_big' && i.origin === 'number')
    return i.inclusive === false ? `must be less than ${i.maximum}` : `must be at most ${i.maximum}`;
  if (i.code === 'too_big' && i.origin === 'array') return `must have at most ${i.maximum} items`;
  if (i.code === 'too_small' && i.origin === 'array')
    return `must have at least ${i.minimum} item${Number(i.minimum) === 1 ? '' : 's'}`;
  if (i.code === 'invalid_type' && /received undefined/.test(i.message)) return 'is required';
  if (i.code === 'invalid_type') return `must be ${kind}`;
  if (i.code === 'invalid_value' && i.values)
    return `must be one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (i.code === 'unrecognized_keys' && i.keys)
    return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
  if (i.code === 'invalid_union' && i.message !== 'Invalid input') return i.message;
  if (i.code === 'invalid_union' && i.errors) {
    // The alternative that got furthest says the most (a number below its minimum, text of the wrong form).
    const branches = i.errors.map((branch) => branch[0]).filter(Boolean);
    const telling = branches.find((b) => b.code !== 'invalid_type');
    if (telling) return plainWords(telling);
    return `must be ${[...new Set(branches.map((b) => KINDS[b.expected ?? ''] ?? `a ${b.expected}`))].join(' or ')}`;
  }
  if (i.code === 'invalid_format' || i.code === 'custom') return i.message;
  return i.message === 'Invalid input' ? 'is not valid' : i.message;
}

/** The one place where domain errors become HTTP statuses. */
function statusOf(error: DomainError): number {
  if (error instanceof NotFoundError) return 404;
  if (error instanceof InvalidRequestError) return 400;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof ConflictError) return 409;
  if (error instanceof UpstreamError) return 502;
  return 500;
}

/** `{"error":{"code","message"}}` (plus the error's details) for a failure; 500 for what no rule names. */
export function errorResponse(error: unknown, log: (m: string) => void = () => {}): HttpResponseInit {
  if (error instanceof ApiError)
    return { status: error.status, jsonBody: { error: { code: error.code, message: error.message } } };
  if (error instanceof DomainError && statusOf(error) !== 500) {
    return {
      status: statusOf(error),
      jsonBody: { error: { code: error.code, message: error.message }, ...error.details },
    };
  }
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    const field = issue.path.join('.') || 'body';
    return { status: 400, jsonBody: { error: { code: 'InvalidRequest', message: `${field}: ${plainWords(issue)}` } } };
  }
  log(`Unhandled error: ${(error as Error)?.stack ?? String(error)}`);
  return {
    status: 500,
    jsonBody: { error: { code: 'InternalError', message: 'The request failed; see the logs for details' } },
  };
}
