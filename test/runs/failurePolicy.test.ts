import { describe, expect, it } from 'vitest';
import {
  ActiveCampaignNotFoundError,
  AuthenticationError,
  InvalidHostnameError,
  parseRetryAfter,
  RateLimitError,
  TransientError,
  ValidationError,
} from '../../shared/activecampaign/errors.js';
import { BudgetWaitError } from '../../shared/activecampaign/rateBudget.js';
import {
  ClaimHeldError,
  decideFailure,
  decidePoisoned,
  FAILURE_LIMITS,
  ImportEndedError,
  ImportStuckError,
  retryDelayInMs,
  RunEndedError,
  throttleDelayInMs,
  type FailureContext,
  type FailureDecision,
  type Tries,
} from '../../shared/runs/failurePolicy.js';
import { QUEUES } from '../../shared/runs/runQueues.js';

const NOW = 1_800_000_000_000;
const timing = { pollIntervalInMs: 5_000, requestTimeoutInMs: 30_000 };
/** Jitter fixed at its lowest: delays are exact. */
const context = (work: 'send' | 'check', tries: Tries = {}, extra: Partial<FailureContext> = {}) => ({
  work,
  tries,
  resubmits: 0,
  timing,
  now: NOW,
  random: () => 0,
  ...extra,
});
const decide = (error: unknown, ctx: ReturnType<typeof context>): FailureDecision =>
  ctx.work === 'send'
    ? decideFailure(error, { ...ctx, work: 'send' })
    : decideFailure(error, { ...ctx, work: 'check' });

const throttled = new RateLimitError('429', 2_000, 429);
const storage = new Error('Storage is unavailable');
const lost = new TransientError('POST timed out', undefined, undefined, { mayHaveArrived: true });
const unreachable = new TransientError('ECONNREFUSED');
const L = FAILURE_LIMITS;

describe('the failure rule: a table of what went wrong, how often, and what to do', () => {
  const rows: [string, unknown, ReturnType<typeof context>, FailureDecision][] = [
    ['send: another delivery holds the claim', new ClaimHeldError('held'), context('send'), { action: 'leave' }],
    [
      'send: the run ended before the post',
      new RunEndedError('ended'),
      context('send'),
      { action: 'endBatch', status: 'cancelled', rest: 'notSent', reason: 'The run ended before the batch was sent' },
    ],
    [
      'send: the key is refused',
      new AuthenticationError('refused', 401),
      context('send'),
      { action: 'endRun', errorCode: 'KeyRefused', batch: { rest: 'failed', reason: 'refused' } },
    ],
    [
      "send: the app's own budget is taken (no try used up)",
      new BudgetWaitError('busy', 7_000),
      context('send', { attempt: 2 }),
      { action: 'retry', why: 'budget', delayInMs: 7_000, tries: { attempt: 2 } },
    ],
    [
      'send: first throttle waits what was asked, and starts the clock',
      throttled,
      context('send'),
      { action: 'retry', why: 'throttled', delayInMs: 2_000, tries: { throttles: 1, throttledSince: NOW } },
    ],
    [
      'send: throttled for longer than allowed fails the batch',
      throttled,
      context('send', { throttles: 40, throttledSince: NOW - L.maxThrottledForInMs - 1 }),
      { action: 'endBatch', status: 'failed', rest: 'failed', reason: 'ActiveCampaign kept refusing requests: 429' },
    ],
    [
      'send: a post whose answer was lost waits twice the timeout',
      lost,
      context('send'),
      { action: 'awaitLostAnswer', delayInMs: 60_000 },
    ],
    [
      'send: a connection never made is retried with back-off',
      unreachable,
      context('send', { attempt: 1 }),
      { action: 'retry', why: 'failed', delayInMs: 1_000, tries: { attempt: 2 } },
    ],
    [
      "send: ActiveCampaign's transient failures end the batch at the limit",
      unreachable,
      context('send', { attempt: L.postAttempts - 1 }),
      { action: 'endBatch', status: 'failed', rest: 'failed', reason: 'ECONNREFUSED' },
    ],
    [
      'send: storage down costs time, not the batch',
      storage,
      context('send', { attempt: L.postAttempts + 5 }),
      { action: 'retry', why: 'failed', delayInMs: 30_000, tries: { attempt: L.postAttempts + 6 } },
    ],
    [
      'send: storage down for good ends the batch',
      storage,
      context('send', { attempt: L.infrastructureAttempts - 1 }),
      { action: 'endBatch', status: 'failed', rest: 'failed', reason: 'Storage is unavailable' },
    ],
    [
      'send: a refusal that is not transient is final',
      new ValidationError('bad request', [], 400),
      context('send'),
      { action: 'endBatch', status: 'failed', rest: 'failed', reason: 'bad request' },
    ],
    [
      'send: a hostname the app will not call is final',
      new InvalidHostnameError('private address'),
      context('send'),
      { action: 'endBatch', status: 'failed', rest: 'failed', reason: 'private address' },
    ],
    [
      'check: an import reported failed is sent again',
      new ImportEndedError('ActiveCampaign reported the import failed'),
      context('check'),
      { action: 'resubmit', reason: 'ActiveCampaign reported the import failed' },
    ],
    [
      'check: an import reported failed after the resubmissions allowed fails the batch',
      new ImportEndedError('failed'),
      context('check', {}, { resubmits: L.resubmits }),
      { action: 'endBatch', status: 'failed', rest: 'failed', reason: 'failed' },
    ],
    [
      'check: an import that never finishes, after the resubmissions allowed: its contacts are unknown',
      new ImportStuckError('did not finish'),
      context('check', {}, { resubmits: L.resubmits }),
      { action: 'endBatch', status: 'failed', rest: 'unknown', reason: 'did not finish' },
    ],
    [
      'check: nothing is sent again for a run that ended',
      new ImportEndedError('interrupted'),
      context('check', {}, { runEnded: true }),
      { action: 'endBatch', status: 'failed', rest: 'failed', reason: 'interrupted' },
    ],
    [
      'check: the key is refused: the run fails, the accepted import stays as it is',
      new AuthenticationError('refused', 403),
      context('check'),
      { action: 'endRun', errorCode: 'KeyRefused' },
    ],
    [
      'check: the key is refused after the run ended: the contacts are unknown',
      new AuthenticationError('refused', 403),
      context('check', {}, { runEnded: true }),
      {
        action: 'endBatch',
        status: 'failed',
        rest: 'unknown',
        reason: 'The import could not be checked: refused',
      },
    ],
    [
      'check: throttled for longer than allowed looks the contacts up',
      throttled,
      context('check', { throttles: 40, throttledSince: NOW - L.maxThrottledForInMs - 1 }),
      { action: 'verify', reason: 'ActiveCampaign kept throttling the checks: 429' },
    ],
    [
      'check: a lost answer to a check is retried (a check posts nothing)',
      lost,
      context('check'),
      { action: 'retry', why: 'failed', delayInMs: 500, tries: { attempt: 1 } },
    ],
    [
      'check: ActiveCampaign not finding the import is retried like any failed check',
      new ActiveCampaignNotFoundError('no such import', 404),
      context('check', { attempt: 3 }),
      { action: 'retry', why: 'failed', delayInMs: 4_000, tries: { attempt: 4 } },
    ],
    [
      'check: checks that keep failing look the contacts up',
      storage,
      context('check', { attempt: L.checkAttempts - 1 }),
      { action: 'verify', reason: 'The import could not be checked: Storage is unavailable' },
    ],
  ];
  it.each(rows)('%s', (_, error, ctx, expected) => {
    expect(decide(error, ctx)).toEqual(expected);
  });

  it('takes its limits as data: a change of limit is a change of answer', () => {
    const strict = { ...FAILURE_LIMITS, postAttempts: 1, resubmits: 0 };
    expect(decideFailure(unreachable, { ...context('send'), work: 'send' }, strict).action).toBe('endBatch');
    expect(decideFailure(new ImportEndedError('failed'), { ...context('check'), work: 'check' }, strict).action).toBe(
      'endBatch',
    );
  });
});

describe('poisoned messages', () => {
  it('come back later each time, then end; accepted imports are never failed for it; a watcher is always re-armed', () => {
    const delays = [1, 2, 3].map((n) => decidePoisoned(QUEUES.batches, n, false, timing));
    expect(delays).toEqual([
      { action: 'returnLater', delayInMs: 120_000 },
      { action: 'returnLater', delayInMs: 240_000 },
      { action: 'returnLater', delayInMs: 480_000 },
    ]);
    expect(decidePoisoned(QUEUES.batches, L.poisonReturns + 1, false, timing)).toMatchObject({
      action: 'endBatch',
      rest: 'failed',
    });
    expect(decidePoisoned(QUEUES.importCheck, 1, true, timing)).toEqual({ action: 'checkImport', delayInMs: 120_000 });
    expect(decidePoisoned(QUEUES.importCheck, L.poisonReturns + 1, true, timing).action).toBe('verify');
    expect(decidePoisoned(QUEUES.plan, 1, false, timing).action).toBe('returnLater');
    expect(decidePoisoned(QUEUES.plan, L.poisonReturns + 1, false, timing).action).toBe('endRun');
    expect(decidePoisoned(QUEUES.watch, 99, false, timing)).toEqual({ action: 'rearmWatcher' });
  });
});

describe('delays', () => {
  it('back off exponentially with jitter, capped, never less than Retry-After', () => {
    expect(retryDelayInMs(1, 0, L, () => 0)).toBe(500);
    expect(retryDelayInMs(1, 0, L, () => 0.999999)).toBe(1000);
    expect(retryDelayInMs(3, 0, L, () => 0)).toBe(2000);
    expect(retryDelayInMs(3, 0, L, () => 0.5)).toBe(3000);
    expect(retryDelayInMs(30, 0, L, () => 0.999999)).toBe(60_000);
    expect(retryDelayInMs(1, 7_000, L, () => 0)).toBe(7_000);
  });

  it('honour Retry-After for the first throttles, then back off up to a cap, and give up after a bounded time', () => {
    expect(throttleDelayInMs(1_000, 1, NOW, L, NOW)).toBe(1_000);
    expect(throttleDelayInMs(1_000, 3, NOW, L, NOW)).toBe(1_000);
    const later = [4, 6, 8, 10].map((n) => throttleDelayInMs(1_000, n, NOW, L, NOW, () => 0.99)!);
    expect(later).toEqual([...later].sort((a, b) => a - b));
    expect(later[3]).toBeGreaterThan(1_000);
    const capped = throttleDelayInMs(1_000, 40, NOW, L, NOW, () => 0.99)!;
    expect(capped).toBeLessThanOrEqual(L.maxThrottleDelayInMs);
    expect(capped).toBeGreaterThan(L.maxThrottleDelayInMs / 2);
    expect(throttleDelayInMs(120_000, 1, NOW, L, NOW)).toBe(120_000);
    expect(throttleDelayInMs(1_000, 50, NOW, L, NOW + L.maxThrottledForInMs + 1)).toBeUndefined();
  });

  it('read Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('2', 1000)).toBe(2000);
    expect(parseRetryAfter('0.5', 1000)).toBe(500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', 1000, now)).toBe(3000);
    expect(parseRetryAfter(undefined, 1234)).toBe(1234);
    expect(parseRetryAfter('soon', 1234)).toBe(1234);
  });
});
