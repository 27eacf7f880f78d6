import { describe, expect, it } from 'vitest';
import { createExportSchema, startRunSchema, updateExportSchema } from '../../shared/exports/exportSchema.js';
import { errorResponse } from '../../shared/http/apiError.js';

/** The message a request body gets back, as the API words it. */
function messageFor(schema: { parse: (v: unknown) => unknown }, body: unknown): string {
  try {
    schema.parse(body);
  } catch (error) {
    return (errorResponse(error).jsonBody as { error: { message: string } }).error.message;
  }
  throw new Error('accepted');
}

describe('validation messages in plain words', () => {
  it.each([
    [{ listId: 0 }, 'listId: must be more than 0'],
    [{ listId: 1.5 }, 'listId: must be a list ID (a positive whole number)'],
    [{ listId: 'abc' }, 'listId: must be a list ID (a positive whole number)'],
    [{ removalGuardPercent: 1.5 }, 'removalGuardPercent: must be a whole number'],
    [{ removalGuardPercent: 101 }, 'removalGuardPercent: must be at most 100'],
    [{ removalGuardPercent: -1 }, 'removalGuardPercent: must be at least 0'],
    [{ displayName: '' }, 'displayName: is required'],
    [{ mode: 'x' }, 'mode: must be one of "upsert", "mirror", "updateOnly"'],
    [{ tags: 'a' }, 'tags: must be a list'],
    [{ runAutomations: 'yes' }, 'runAutomations: must be true or false'],
  ])('words %j as a person would read it', (body, message) => {
    const text = messageFor(updateExportSchema, body);
    expect(text).toBe(message);
    expect(text).not.toMatch(/Too small|Too big|Invalid input|a int\b|expected/);
  });

  it('names a missing required field and the confirmation form', () => {
    expect(messageFor(createExportSchema, { listId: 1 })).toMatch(/^displayName: is required$/);
    expect(messageFor(startRunSchema, { confirmRemovals: true })).toBe(
      'confirmRemovals: give the id of the run the removal guard stopped ({"confirmRemovals": "<runId>"}): a confirmation covers exactly the removals that run showed',
    );
  });
});
