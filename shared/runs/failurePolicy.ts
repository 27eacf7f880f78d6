import { ActiveCampaignError, AuthenticationError, RateLimitError, TransientError } from '../activecampaign/errors.js';
import { BudgetWaitError } from '../activecampaign/rateBudget.js';
import type { AppConfig } from '../config.js';
import type { Unaccounted } from './runModel.js';
import { QUEUES, type QueueName } from './runQueues.js';

/**
 * The one rule that decides what a failure of the run engine's queue work means: given what went
 * wrong, how often it went wrong before and the limits, it answers what to do. The workers
 * (sendBatch, checkImport, the poison handlers) only carry the answer out. Pure: no I/O, the clock
 * and the randomness are inputs.
 */

/** Every limit of the engine's retries and patience, as data (tests pass their own). */
export const FAILURE_LIMITS = {
  /** Failed posts for ActiveCampaign's transient reasons (5xx, a connection never made) before a batch fails. */
  postAttempts: 5,
  /** Failures of the app's own (storage down): with capped back-off, about half an hour. */
  infrastructureAttempts: 30,
  /** Rounds of dropping the contacts the importer refused and sending the rest, before the batch fails. */
  validationRounds: 5,
  /** Posts whose answer was lost before the contacts are looked up instead of posted again. */
  uncertainPosts: 2,
  /** Failed checks of an accepted import before its contacts are looked up instead (about 15 minutes). */
  checkAttempts: 12,
  /** Imports ActiveCampaign reported failed or interrupted (or that never finish) sent again, at most. */
  resubmits: 2,
  /** Polls before an import that never finishes is sent again (about an hour at the default interval). */
  polls: 720,
  /** Times a poisoned message comes back (later each time) before its work ends. */
  poisonReturns: 3,
  /** Throttled attempts that wait exactly what ActiveCampaign asked for, before the waits grow. */
  throttlesAsAsked: 3,
  /** The longest wait between two throttled attempts. */
  maxThrottleDelayInMs: 5 * 60_000,
  /** How long work may keep being throttled (429, 503, "Rate limit exceeded.") before it gives up. */
  maxThrottledForInMs: 30 * 60_000,
  /** Back-off of retried failures: doubling from the base, at most the max, with jitter. */
  baseDelayInMs: 1_000,
  maxDelayInMs: 60_000,
  /** A planner silent this long is taken for dead: its plan message may start planning again. */
  plannerSilentInMs: 2 * 60_000,
  /** A sending run whose watcher has been silent this long gets a new watcher. */
  watcherSilentInMs: 10 * 60_000,
  /** No batch of a run reached its outcome for this long: the open batches get their messages again. */
  batchesStalledInMs: 10 * 60_000,
};

export type FailureLimits = typeof FAILURE_LIMITS;

/** How often a message's work was tried (carried on the message). */
export interface Tries {
  /** Failed attempts so far (throttling does not count). */
  attempt?: number;
  /** Since when (ms since epoch) and how often ActiveCampaign has been throttling it. */
  throttledSince?: number;
  throttles?: number;
}

/** Another delivery claimed the batch between this one's first look and its post: that one sends it. */
export class ClaimHeldError extends Error {
  override readonly name = 'ClaimHeldError';
}

/** The run ended (cancelled, or failed) while the batch waited to be sent. */
export class RunEndedError extends Error {
  override readonly name = 'RunEndedError';
}

/** ActiveCampaign reports an accepted import `failed` or `interrupted`. */
export class ImportEndedError extends Error {
  override readonly name = 'ImportEndedError';
}

/** An accepted import did not finish within the polls allowed. */
export class ImportStuckError extends Error {
  override readonly name = 'ImportStuckError';
}

export type FailureDecision =
  /** Another delivery has the work: leave it. */
  | { action: 'leave' }
  /** Put the message back after `delayInMs`, with these tries. */
  | { action: 'retry'; delayInMs: number; tries: Tries; why: 'budget' | 'throttled' | 'failed' }
  /** A post whose answer was lost: count it and wait before anything is sent again (it may have arrived). */
  | { action: 'awaitLostAnswer'; delayInMs: number }
  /** Look the batch's contacts up instead of posting (again). */
  | { action: 'verify'; reason: string }
  /** Send the batch again: a new import. */
  | { action: 'resubmit'; reason: string }
  /** The batch ends whole; its upserts not otherwise accounted for go to `rest`. */
  | { action: 'endBatch'; status: 'failed' | 'cancelled'; rest: Unaccounted; reason: string }
  /** ActiveCampaign refused the key: the run fails (the batch first, when `batch` says how). */
  | { action: 'endRun'; errorCode: 'KeyRefused'; batch?: { rest: Unaccounted; reason: string } };

/** The engine's clock, from the settings: the import poll interval and ActiveCampaign's request timeout. */
export interface EngineTiming {
  pollIntervalInMs: number;
  requestTimeoutInMs: number;
}

export const engineTiming = (
  config: Pick<AppConfig, 'importPollIntervalInMs' | 'activeCampaignTimeoutInMs'>,
): EngineTiming => ({
  pollIntervalInMs: config.importPollIntervalInMs,
  requestTimeoutInMs: config.activeCampaignTimeoutInMs,
});

export interface FailureContext {
  /** Posting a batch, or checking an accepted import. */
  work: 'send' | 'check';
  tries: Tries;
  /** Times the batch was sent again after a failed import. */
  resubmits: number;
  /** The run has ended: an accepted import is checked to its end, but nothing is sent for it any more. */
  runEnded?: boolean;
  timing: EngineTiming;
  now?: number;
  random?: () => number;
}

/** What a send worker may be told to do. */
export type SendFailureDecision = Exclude<FailureDecision, { action: 'verify' | 'resubmit' }>;
/** What an import check may be told to do (a check never posts, so it never waits for a lost answer). */
export type CheckFailureDecision = Exclude<FailureDecision, { action: 'leave' | 'awaitLostAnswer' }>;

/** What to do about `error`, thrown by the work `context` describes. */
export function decideFailure(
  error: unknown,
  context: FailureContext & { work: 'send' },
  limits?: FailureLimits,
): SendFailureDecision;
export function decideFailure(
  error: unknown,
  context: FailureContext & { work: 'check' },
  limits?: FailureLimits,
): CheckFailureDecision;
export function decideFailure(
  error: unknown,
  context: FailureContext,
  limits: FailureLimits = FAILURE_LIMITS,
): FailureDecision {
  const { work, tries, runEnded = false, now = Date.now(), random = Math.random } = context;
  const reason = error instanceof Error ? error.message : String(error);
  const endBatch = (rest: Unaccounted, why = reason): FailureDecision => ({
    action: 'endBatch',
    status: 'failed',
    rest,
    reason: why,
  });
  const retry = (why: 'budget' | 'throttled' | 'failed', delayInMs: number, next: Tries): FailureDecision => ({
    action: 'retry',
    delayInMs,
    tries: next,
    why,
  });

  if (work === 'send' && error instanceof ClaimHeldError) return { action: 'leave' };
  if (work === 'send' && error instanceof RunEndedError)
    return {
      action: 'endBatch',
      status: 'cancelled',
      rest: 'notSent',
      reason: 'The run ended before the batch was sent',
    };
  if (work === 'check' && (error instanceof ImportEndedError || error instanceof ImportStuckError)) {
    // An import that never finished may still: its contacts are not known to have failed.
    const rest = error instanceof ImportStuckError ? 'unknown' : 'failed';
    return runEnded || context.resubmits >= limits.resubmits ? endBatch(rest) : { action: 'resubmit', reason };
  }
  if (error instanceof AuthenticationError) {
    if (work === 'check' && runEnded) return endBatch('unknown', `The import could not be checked: ${reason}`);
    return work === 'send'
      ? { action: 'endRun', errorCode: 'KeyRefused', batch: { rest: 'failed', reason } }
      : { action: 'endRun', errorCode: 'KeyRefused' };
  }
  // The app's own budget is taken: no refusal of ActiveCampaign's, no back-off, no try used up.
  if (error instanceof BudgetWaitError) return retry('budget', error.retryAfterInMs, tries);
  if (error instanceof RateLimitError) {
    const throttles = (tries.throttles ?? 0) + 1;
    const delay = throttleDelayInMs(error.retryAfterInMs, throttles, tries.throttledSince, limits, now, random);
    if (delay === undefined)
      return work === 'send'
        ? endBatch('failed', `ActiveCampaign kept refusing requests: ${reason}`)
        : { action: 'verify', reason: `ActiveCampaign kept throttling the checks: ${reason}` };
    return retry('throttled', delay, { ...tries, throttles, throttledSince: tries.throttledSince ?? now });
  }
  const attempt = (tries.attempt ?? 0) + 1;
  const backoff = () => retry('failed', retryDelayInMs(attempt, 0, limits, random), { ...tries, attempt });
  if (work === 'check') {
    // A check never sends anything: it tries again, and in the end the contacts are looked up.
    return attempt >= limits.checkAttempts
      ? { action: 'verify', reason: `The import could not be checked: ${reason}` }
      : backoff();
  }
  if (error instanceof TransientError && error.mayHaveArrived)
    return { action: 'awaitLostAnswer', delayInMs: Math.max(5_000, 2 * context.timing.requestTimeoutInMs) };
  if (error instanceof TransientError) return attempt < limits.postAttempts ? backoff() : endBatch('failed');
  // Anything else ActiveCampaign answered (not found, validation) is final.
  if (error instanceof ActiveCampaignError) return endBatch('failed');
  // Storage and other failures of the app's own cost time, not the batch: many more (capped) retries.
  return attempt < limits.infrastructureAttempts ? backoff() : endBatch('failed');
}

export type PoisonDecision =
  /** Back on its own queue (with `poisoned` counted) after `delayInMs`. */
  | { action: 'returnLater'; delayInMs: number }
  /** A watcher is cheap and must never be lost: always re-armed, as a new chain. */
  | { action: 'rearmWatcher' }
  /** Planning keeps failing: the run fails. */
  | { action: 'endRun'; reason: string }
  /** An accepted import: checked again after `delayInMs` (never failed for the app's own trouble). */
  | { action: 'checkImport'; delayInMs: number }
  /** An accepted import whose checks keep failing: its contacts are looked up (no new post). */
  | { action: 'verify'; delayInMs: number }
  | { action: 'endBatch'; status: 'failed'; rest: Unaccounted; reason: string };

/**
 * What to do with work whose message the host moved to `<queue>-poison` (after maxDequeueCount
 * failed attempts; storage that was down is the usual cause): it comes back later each time a few
 * times, and then ends. `poisoned` counts this return; `accepted` says whether the batch's import
 * was accepted by ActiveCampaign.
 */
export function decidePoisoned(
  queue: QueueName,
  poisoned: number,
  accepted: boolean,
  timing: { pollIntervalInMs: number },
  limits: FailureLimits = FAILURE_LIMITS,
): PoisonDecision {
  // 24 poll intervals (2 minutes at the default 5 s), twice as long each time after.
  const delayInMs = 24 * timing.pollIntervalInMs * 2 ** (poisoned - 1);
  const giveUp = poisoned > limits.poisonReturns;
  if (queue === QUEUES.watch) return { action: 'rearmWatcher' };
  if (queue === QUEUES.plan)
    return giveUp
      ? { action: 'endRun', reason: 'Planning failed repeatedly; see the logs of the planRun function' }
      : { action: 'returnLater', delayInMs };
  if (accepted) return giveUp ? { action: 'verify', delayInMs } : { action: 'checkImport', delayInMs };
  return giveUp
    ? {
        action: 'endBatch',
        status: 'failed',
        rest: 'failed',
        reason: 'Processing failed repeatedly (poison message); see the logs',
      }
    : { action: 'returnLater', delayInMs };
}

/** A poison handler that cannot reach storage puts its message back on its own poison queue this much later. */
export const poisonRetryDelayInMs = (timing: { pollIntervalInMs: number }) => 12 * timing.pollIntervalInMs;

/**
 * Delay before retry number `attempt` (1-based): exponential back-off with "equal jitter", so
 * instances that failed together do not retry together, and never less than `retryAfterInMs`.
 */
export function retryDelayInMs(
  attempt: number,
  retryAfterInMs = 0,
  limits: Pick<FailureLimits, 'baseDelayInMs' | 'maxDelayInMs'> = FAILURE_LIMITS,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(limits.maxDelayInMs, limits.baseDelayInMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  return Math.max(Math.round(jittered), Math.ceil(retryAfterInMs));
}

/**
 * The delay before throttled attempt number `throttles` (1-based): what ActiveCampaign asked for,
 * and, as the refusals go on, exponential back-off with jitter up to maxThrottleDelayInMs, so that
 * a 503 storm answering "Retry-After: 1" is not hammered once a second. Undefined once the work has
 * been throttled since `since` for longer than maxThrottledForInMs: give up.
 */
export function throttleDelayInMs(
  retryAfterInMs: number,
  throttles: number,
  since: number | undefined,
  limits: FailureLimits = FAILURE_LIMITS,
  now = Date.now(),
  random: () => number = Math.random,
): number | undefined {
  if (since !== undefined && now - since > limits.maxThrottledForInMs) return undefined;
  // The first few refusals are normal at the limit: honour Retry-After as it is.
  const backoff =
    throttles <= limits.throttlesAsAsked
      ? 0
      : retryDelayInMs(
          throttles - limits.throttlesAsAsked,
          0,
          { baseDelayInMs: 1_000, maxDelayInMs: limits.maxThrottleDelayInMs },
          random,
        );
  return Math.min(limits.maxThrottleDelayInMs, Math.max(Math.ceil(retryAfterInMs), backoff));
}
