/**
 * Typed failures of ActiveCampaign calls. A caller decides what to do from the class (or `code`)
 * alone: the run engine's rule is runs/failurePolicy.ts. Messages never contain the API key.
 */
export class ActiveCampaignError extends Error {
  override name = 'ActiveCampaignError';
  readonly code: string = 'ActiveCampaignError';
  constructor(
    message: string,
    readonly status?: number,
    readonly body?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** 401/403, or a 2xx whose body is not the expected JSON (ActiveCampaign's login page for a bad key). */
export class AuthenticationError extends ActiveCampaignError {
  override name = 'AuthenticationError';
  override readonly code = 'Authentication';
}

/** 404: ActiveCampaign has no such list, contact or import. */
export class ActiveCampaignNotFoundError extends ActiveCampaignError {
  override name = 'ActiveCampaignNotFoundError';
  override readonly code = 'NotFound';
}

export interface ContactFailure {
  /** The contact's index in the request that was sent. */
  index: number;
  reason: string;
}

/** The importer refused the whole request; `failures` names the contacts it objected to. */
export class ValidationError extends ActiveCampaignError {
  override name = 'ValidationError';
  override readonly code = 'Validation';
  constructor(
    message: string,
    readonly failures: ContactFailure[],
    status?: number,
    body?: unknown,
  ) {
    super(message, status, body);
  }
}

/** 429, 503, or the importer's 400 "Rate limit exceeded.": try again after `retryAfterInMs`. */
export class RateLimitError extends ActiveCampaignError {
  override name = 'RateLimitError';
  override readonly code = 'RateLimited';
  constructor(
    message: string,
    readonly retryAfterInMs: number,
    status?: number,
    body?: unknown,
  ) {
    super(message, status, body);
  }
}

/**
 * 5xx, connection resets, timeouts: worth another try later. `mayHaveArrived` is true when the
 * request may have reached ActiveCampaign and been acted on although no answer came back (a POST
 * that timed out or whose connection reset, a 502 or 504 from a gateway): sending it again could
 * do it twice.
 */
export class TransientError extends ActiveCampaignError {
  override name = 'TransientError';
  override readonly code = 'Transient';
  constructor(
    message: string,
    status?: number,
    body?: unknown,
    options?: { cause?: unknown; mayHaveArrived?: boolean },
  ) {
    super(message, status, body, options);
    this.mayHaveArrived = options?.mayHaveArrived ?? false;
  }
  readonly mayHaveArrived: boolean;
}

/** The connection's hostname is not one the app will call. */
export class InvalidHostnameError extends ActiveCampaignError {
  override name = 'InvalidHostnameError';
  override readonly code = 'InvalidHostname';
}

/** Retry-After as seconds or an HTTP date, in milliseconds; `fallbackInMs` when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, fallbackInMs: number, now = Date.now()): number {
  if (!header) return fallbackInMs;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(header);
  if (Number.isFinite(date)) return Math.max(0, date - now);
  return fallbackInMs;
}
