import { ActiveCampaignError, RateLimitError, TransientError } from './errors.js';

export type FailureKind = 'throttled' | 'retryable' | 'final';

/**
 * The one place that decides what a failure means: throttled work waits the delay ActiveCampaign
 * asked for and does not use up a retry; transient failures are retried with backoff; everything
 * else (authentication, not found, validation, a bug) is final.
 */
export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof RateLimitError) return 'throttled';
  if (error instanceof TransientError) return 'retryable';
  if (error instanceof ActiveCampaignError) return 'final';
  // Storage hiccups and other unexpected errors: let the queue's retries have a go.
  return 'retryable';
}

export interface BackoffOptions {
  baseDelayInMs?: number;
  maxDelayInMs?: number;
  /** A number in [0, 1); injectable so the delay is a pure function in tests. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (1-based): exponential backoff with "equal jitter", so
 * instances that failed together do not retry together, and never less than `retryAfterInMs`.
 */
export function retryDelayInMs(attempt: number, retryAfterInMs = 0, options: BackoffOptions = {}): number {
  const base = options.baseDelayInMs ?? 1_000;
  const max = options.maxDelayInMs ?? 60_000;
  const random = options.random ?? Math.random;
  const exponential = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  return Math.max(Math.round(jittered), Math.ceil(retryAfterInMs));
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
