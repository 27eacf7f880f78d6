import type { FieldDefinition } from '../model.js';
import { splitValues } from './values.js';

/**
 * Custom field values in the form ActiveCampaign's field types expect (developers.activecampaign.com,
 * "Create a custom field value": date `YYYY-MM-DD`, datetime ISO 8601, dropdown and radio one of the
 * field's options, checkbox and listbox `||a||b||`). Converted at planning time; a value that cannot
 * be converted rejects its row with a reason, never the run.
 */

/** A converted value, or why not: `problem` names the value (rejected rows), `category` does not (a run's summary). */
export type FieldValue =
  | { value: string; problem?: undefined; category?: undefined }
  | { value?: undefined; problem: string; category: string };

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const COMPACT_DATE = /^(\d{4})(\d{2})(\d{2})$/;
const SLASHED_YMD = /^(\d{4})\/(\d{2})\/(\d{2})$/;

/** Accepted date forms, as the README lists them. Day-month orders such as 3/4/2024 are ambiguous and refused. */
export const DATE_FORMS = 'YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD, or an ISO 8601 date-time (its date is used)';
export const DATE_TIME_FORMS =
  'ISO 8601: YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM] (a space may replace the T; without an offset the time is UTC), or a date (midnight UTC)';

function validDate(y: string, m: string, d: string): string | undefined {
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  if (date.getUTCFullYear() !== Number(y) || date.getUTCMonth() !== Number(m) - 1 || date.getUTCDate() !== Number(d))
    return undefined;
  return `${y}-${m}-${d}`;
}

/** A UTC offset as the world uses them: -12:00 to +14:00. */
function validOffset(offset: string | undefined): boolean {
  if (!offset || offset.toUpperCase() === 'Z') return true;
  const m = /^[+-](\d{2}):?(\d{2})$/.exec(offset);
  return !!m && Number(m[1]) * 60 + Number(m[2]) <= 14 * 60 && Number(m[2]) < 60;
}

function toDate(text: string): string | undefined {
  const dateTime = ISO_DATE_TIME.exec(text);
  if (dateTime && !validOffset(dateTime[7])) return undefined;
  const m = ISO_DATE.exec(text) ?? SLASHED_YMD.exec(text) ?? COMPACT_DATE.exec(text) ?? dateTime;
  return m ? validDate(m[1], m[2], m[3]) : undefined;
}

function toDateTime(text: string): string | undefined {
  const m = ISO_DATE_TIME.exec(text);
  if (!m) {
    const date = toDate(text);
    return date ? `${date}T00:00:00Z` : undefined;
  }
  if (
    !validDate(m[1], m[2], m[3]) ||
    Number(m[4]) > 23 ||
    Number(m[5]) > 59 ||
    Number(m[6] ?? 0) > 59 ||
    !validOffset(m[7])
  )
    return undefined;
  const offset = !m[7] || m[7].toUpperCase() === 'Z' ? 'Z' : m[7].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${offset}`);
  if (!Number.isFinite(ms)) return undefined;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The field's option that a value names: exactly, then ignoring case. */
function option(def: FieldDefinition, value: string): string | undefined {
  const options = def.options ?? [];
  if (options.includes(value)) return value;
  const matches = options.filter((o) => o.toLowerCase() === value.toLowerCase());
  return matches.length === 1 ? matches[0] : undefined;
}

const describe = (def: FieldDefinition) => `field ${def.id} "${def.title}" (${def.type})`;
const shown = (value: string) => JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);

/** A non-empty cell's value for a custom field, or why it cannot be sent. */
export function convertFieldValue(text: string, def: FieldDefinition | undefined, column: string): FieldValue {
  if (!def) return { value: text };
  const fail = (why: string) => ({
    problem: `column "${column}" → ${describe(def)}: ${shown(text)} ${why}`,
    category: `column "${column}" → ${describe(def)}: a value that does not convert`,
  });
  switch (def.type) {
    case 'date': {
      const value = toDate(text);
      return value ? { value } : fail(`is not a date (accepted: ${DATE_FORMS})`);
    }
    case 'datetime': {
      const value = toDateTime(text);
      return value ? { value } : fail('is not an ISO 8601 date-time');
    }
    case 'number': {
      // Spaces and thousands separators are refused, not guessed: "1 000" and "1,000" mean different things in
      // different places.
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))
        return fail(
          'is not a number (digits with an optional sign, decimal point and exponent; no spaces or thousands separators)',
        );
      const n = Number(text);
      if (!Number.isFinite(n)) return fail('is too large a number');
      if (n === 0 && /[1-9]/.test(text.replace(/[eE].*$/, ''))) return fail('is too small a number: it would become 0');
      return { value: String(n) };
    }
    case 'dropdown':
    case 'radio': {
      const value = option(def, text);
      return value !== undefined
        ? { value }
        : fail(`is not one of the field's options (${(def.options ?? []).join(', ') || 'none'})`);
    }
    case 'checkbox':
    case 'listbox': {
      const split = splitValues(text);
      if (split.problem !== undefined) return fail(`is not a list of values: ${split.problem}`);
      const values = split.values;
      // No value at all (";" or "[]") is an empty cell: the field is left as it is.
      if (values.length === 0) return { value: '' };
      const chosen = values.map((v) => option(def, v));
      const missing = values.filter((_, i) => chosen[i] === undefined);
      if (missing.length > 0)
        return fail(
          `has ${missing.map(shown).join(', ')}, not among the field's options (${(def.options ?? []).join(', ') || 'none'})`,
        );
      if (chosen.some((v) => v!.includes('||'))) return fail('holds "||", which ActiveCampaign uses between values');
      return { value: `||${[...new Set(chosen)].join('||')}||` };
    }
    default:
      return { value: text };
  }
}
