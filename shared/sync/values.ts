/**
 * Several values in one cell (tags, checkbox and listbox fields), and the rule every tag keeps.
 * One rule everywhere: `;` separates values, so a tag never contains it; a cell may also hold a
 * JSON array of texts. ActiveCampaign's importer adds tags and never removes them, so a tag that
 * should not exist is refused before it is sent, never sent and regretted.
 */

export const VALUE_SEPARATOR = ';';
/** ActiveCampaign's tag names are at most 255 characters (its tag field's length). */
export const MAX_TAG_LENGTH = 255;
/** Tags an export adds to every contact, and tags one cell may hold. */
export const MAX_TAGS = 20;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Characters that reorder or hide text (bidirectional overrides and isolates). */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
/** Nothing a reader can see: spaces, zero-width and other format characters only. */
const INVISIBLE = /^[\s\p{Z}\p{Cf}]*$/u;

const shown = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);

/** Why a tag name cannot be sent (undefined when it can). */
export function tagProblem(tag: string): string | undefined {
  if (INVISIBLE.test(tag)) return 'a tag must have a visible character';
  if (tag.length > MAX_TAG_LENGTH) return `the tag ${shown(tag)} is longer than ${MAX_TAG_LENGTH} characters`;
  if (CONTROL.test(tag)) return `the tag ${shown(tag)} contains a control character`;
  if (BIDI.test(tag)) return `the tag ${shown(tag)} contains a character that reorders text`;
  if (tag.includes(VALUE_SEPARATOR)) return `the tag ${shown(tag)} contains "${VALUE_SEPARATOR}", which separates tags`;
  return undefined;
}

/** The values of a cell: a JSON array of texts, or texts separated by `;`; each trimmed, empty ones dropped. */
export function splitValues(
  text: string,
): { values: string[]; problem?: undefined } | { values?: undefined; problem: string } {
  const t = text.trim();
  if (t.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      return { problem: `${shown(t)} starts like a JSON array but is not one` };
    }
    if (!Array.isArray(parsed)) return { problem: `${shown(t)} is not a JSON array` };
    const notText = (parsed as unknown[]).find((v) => typeof v !== 'string');
    if (notText !== undefined)
      return {
        problem: `the JSON array holds ${(JSON.stringify(notText) ?? 'undefined').slice(0, 40)}, which is not a text`,
      };
    return { values: (parsed as string[]).map((v) => v.trim()).filter(Boolean) };
  }
  return {
    values: t
      .split(VALUE_SEPARATOR)
      .map((v) => v.trim())
      .filter(Boolean),
  };
}

/** The tags of a cell, each kept to the tag rule, or why the row cannot be sent. */
export function tagsOfCell(
  text: string,
): { tags: string[]; problem?: undefined } | { tags?: undefined; problem: string } {
  const split = splitValues(text);
  if (split.problem !== undefined) return { problem: split.problem };
  const tags = [...new Set(split.values)];
  if (tags.length > MAX_TAGS)
    return { problem: `${tags.length} tags, more than the ${MAX_TAGS} a contact may get from one cell` };
  for (const tag of tags) {
    const problem = tagProblem(tag);
    if (problem) return { problem };
  }
  return { tags };
}
