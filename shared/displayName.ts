import { z } from 'zod';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** Bidirectional overrides and isolates: "\u202eevil" shows as "live". */
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const INVISIBLE = /^[\s\p{Z}\p{Cf}]*$/u;

/**
 * The name people see of a connection or an export: one line of visible text, in one Unicode
 * spelling (NFC), so that a name looks like what it is and two spellings of one name are one.
 */
export const displayName = z
  .string()
  .min(1)
  .max(200)
  .transform((s) => s.normalize('NFC').trim())
  .superRefine((s, ctx) => {
    const problem =
      !s || INVISIBLE.test(s)
        ? 'is required'
        : CONTROL.test(s)
          ? 'must be one line of text, without control characters'
          : BIDI.test(s)
            ? 'must not contain characters that reorder text (bidirectional controls)'
            : undefined;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('The name people see: one line of text, at most 200 characters');
