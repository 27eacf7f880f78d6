import { describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  NotFoundError,
  RateLimitError,
  TransientError,
  ValidationError,
} from '../../shared/activecampaign/errors.js';
import { classifyFailure, parseRetryAfter, retryDelayInMs } from '../../shared/activecampaign/retryPolicy.js';

describe('classifyFailure', () => {
  it('sorts failures into throttled, retryable and final', () => {
    expect(classifyFailure(new RateLimitError('slow down', 1000, 429))).toBe('throttled');
    expect(classifyFailure(new TransientError('reset'))).toBe('retryable');
    expect(classifyFailure(new AuthenticationError('bad key', 403))).toBe('final');
    expect(classifyFailure(new NotFoundError('gone', 404))).toBe('final');
    expect(classifyFailure(new ValidationError('bad', [], 400))).toBe('final');
    expect(classifyFailure(new Error('storage hiccup'))).toBe('retryable');
  });
});

describe('retryDelayInMs', () => {
  it('doubles per attempt with jitter between half and the whole delay', () => {
    expect(retryDelayInMs(1, 0, { random: () => 0 })).toBe(500);
    expect(retryDelayInMs(1, 0, { random: () => 0.999999 })).toBe(1000);
    expect(retryDelayInMs(3, 0, { random: () => 0 })).toBe(2000);
    expect(retryDelayInMs(3, 0, { random: () => 0.5 })).toBe(3000);
  });

  it('never exceeds the maximum, and never waits less than Retry-After', () => {
    expect(retryDelayInMs(30, 0, { random: () => 0.999999, maxDelayInMs: 60_000 })).toBe(60_000);
    expect(retryDelayInMs(1, 7_000, { random: () => 0 })).toBe(7_000);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('2', 1000)).toBe(2000);
    expect(parseRetryAfter('0.5', 1000)).toBe(500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', 1000, now)).toBe(3000);
    expect(parseRetryAfter(undefined, 1234)).toBe(1234);
    expect(parseRetryAfter('soon', 1234)).toBe(1234);
  });
});
