import { ActiveCampaignError, RateLimitError, TransientError } from './errors.js';

export type FailureKind = 'throttled' | 'retryable' | 'final';

/**
 * The one place that decides what a failure means: throttled work waits the delay ActiveCampaign
 * asked for and does not use up a retry; transient failures are retried with backoff; everything
 * else ActiveCampaign answered (authentication, not found, validation) is final; storage failures
 * and other errors of the app's own are retried.
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

/** The longest a queued piece of work waits between two throttled attempts. */
export const MAX_THROTTLE_DELAY_IN_MS = 5 * 60_000;
/** How long work may keep being throttled (429, 503, "Rate limit exceeded.") before it gives up. */
export const MAX_THROTTLED_FOR_IN_MS = 30 * 60_000;

/**
 * The delay before throttled attempt number `throttles` (1-based): what ActiveCampaign asked for,
 * and, as the refusals go on, exponential back-off with jitter up to MAX_THROTTLE_DELAY_IN_MS, so
 * that a 503 storm answering "Retry-After: 1" is not hammered once a second. Undefined once the
 * work has been throttled since `since` for longer than MAX_THROTTLED_FOR_IN_MS: give up.
 */
export function throttleDelayInMs(
  retryAfterInMs: number,
  throttles: number,
  since: number | undefined,
  now = Date.now(),
  random = Math.random,
): number | undefined {
  if (since !== undefined && now - since > MAX_THROTTLED_FOR_IN_MS) return undefined;
  // The first few refusals are normal at the limit: honour Retry-After as it is.
  const backoff =
    throttles <= 3
      ? 0
      : retryDelayInMs(throttles - 3, 0, { baseDelayInMs: 1_000, maxDelayInMs: MAX_THROTTLE_DELAY_IN_MS, random });
  return Math.min(MAX_THROTTLE_DELAY_IN_MS, Math.max(Math.ceil(retryAfterInMs), backoff));
}
