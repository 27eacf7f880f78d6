import type { AcList, CreateExportBody, Export, UpdateExportBody } from '../../api';

/** The form's fields as the person types them (text where the API takes numbers or lists). */
export interface Draft {
  displayName: string;
  connectionId: string;
  listText: string;
  container: string;
  path: string;
  table: string;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  tagsColumn: string;
  identity: string;
  attributes: { column: string; fieldId: string }[];
  /** The mapped fields whose empty source values clear ActiveCampaign's (firstName, lastName, phone, field ids). */
  clearWhenEmpty: string[];
  tags: string;
  runAutomations: boolean;
  removeTagsWhenLeaving: boolean;
  mode: 'upsert' | 'mirror' | 'updateOnly';
  removalGuardPercent: string;
  schedule: 'refresh' | 'manual';
}

export const EMPTY_DRAFT: Draft = {
  displayName: '',
  connectionId: '',
  listText: '',
  container: '',
  path: '',
  table: '',
  email: '',
  firstName: '',
  lastName: '',
  phone: '',
  tagsColumn: '',
  identity: '',
  attributes: [],
  clearWhenEmpty: [],
  tags: '',
  runAutomations: true,
  removeTagsWhenLeaving: false,
  mode: 'upsert',
  removalGuardPercent: '10',
  schedule: 'refresh',
};

/** The form's fields that can be wrong, in the order the form shows them (the first wrong one gets focus). */
export const FORM_FIELDS = [
  'displayName',
  'connectionId',
  'listId',
  'container',
  'path',
  'table',
  'email',
  'firstName',
  'lastName',
  'phone',
  'tagsColumn',
  'identity',
  'fields',
  'tags',
  'removalGuardPercent',
] as const;
export type FormField = (typeof FORM_FIELDS)[number];

export const FIELD_LABELS: Record<FormField, string> = {
  displayName: 'Display name',
  connectionId: 'Connection for export',
  listId: 'ActiveCampaign list',
  container: 'Container',
  path: 'Path',
  table: 'Table',
  email: 'Email',
  firstName: 'First name',
  lastName: 'Last name',
  phone: 'Phone',
  tagsColumn: 'Tags column',
  identity: 'Identity column',
  fields: 'Custom fields',
  tags: 'Tags for every contact',
  removalGuardPercent: 'Removal guard (%)',
};

/** The id of a field's input, so that the form can move focus to it. */
export const inputId = (field: FormField) => `export-${field}`;

/** Tags are separated by ";" everywhere (a tag never contains one), so this round-trips every stored value. */
export const TAG_SEPARATOR = ';';

export const listOptionText = (list: AcList) => `${list.name} (ID ${list.id})`;

/** The export as the form shows it: its list by name once the account's lists are known. */
export function draftOf(exp: Export, lists: AcList[] = []): Draft {
  const list = lists.find((l) => Number(l.id) === exp.listId);
  return {
    displayName: exp.displayName,
    connectionId: exp.connectionId,
    listText: list ? listOptionText(list) : String(exp.listId),
    container: exp.source.container,
    path: exp.source.path,
    table: exp.source.table ?? '',
    email: exp.mapping.email,
    firstName: exp.mapping.firstName ?? '',
    lastName: exp.mapping.lastName ?? '',
    phone: exp.mapping.phone ?? '',
    tagsColumn: exp.mapping.tags ?? '',
    identity: exp.mapping.identity ?? '',
    attributes: Object.entries(exp.mapping.fields ?? {}).map(([fieldId, column]) => ({ fieldId, column })),
    clearWhenEmpty: Object.entries(exp.mapping.emptyValues ?? {})
      .filter(([, rule]) => rule === 'clear')
      .map(([field]) => field),
    tags: exp.tags.join(`${TAG_SEPARATOR} `),
    runAutomations: exp.runAutomations,
    removeTagsWhenLeaving: exp.removeTagsWhenLeaving,
    mode: exp.mode,
    removalGuardPercent: String(exp.removalGuardPercent),
    schedule: exp.schedule,
  };
}

/**
 * The list the person chose: picked by name, or typed as an id (anything else goes to the API, which says what is
 * wrong).
 */
export function listIdOf(text: string, lists: AcList[]): number | string {
  const picked = lists.find((l) => listOptionText(l) === text);
  if (picked) return Number(picked.id);
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text.trim();
}

const optional = (v: string) => (v.trim() ? v.trim() : undefined);

/** The mapped fields an empty source value may clear: names and phone when mapped, and the custom fields. */
export function clearable(d: Draft): string[] {
  return [
    ...(['firstName', 'lastName', 'phone'] as const).filter((k) => d[k].trim()),
    ...d.attributes.filter((a) => a.fieldId && a.column.trim()).map((a) => a.fieldId),
  ];
}

/** The request body a draft stands for. */
export function bodyOf(d: Draft, lists: AcList[]): CreateExportBody {
  const fields = d.attributes.filter((a) => a.fieldId && a.column.trim());
  return {
    displayName: d.displayName,
    connectionId: d.connectionId,
    listId: listIdOf(d.listText, lists),
    source: {
      container: d.container.trim(),
      path: d.path.trim(),
      ...(optional(d.table) ? { table: optional(d.table) } : {}),
    },
    mapping: {
      email: d.email.trim(),
      ...(optional(d.firstName) ? { firstName: optional(d.firstName) } : {}),
      ...(optional(d.lastName) ? { lastName: optional(d.lastName) } : {}),
      ...(optional(d.phone) ? { phone: optional(d.phone) } : {}),
      ...(optional(d.tagsColumn) ? { tags: optional(d.tagsColumn) } : {}),
      ...(optional(d.identity) ? { identity: optional(d.identity) } : {}),
      ...(clearable(d).some((f) => d.clearWhenEmpty.includes(f))
        ? {
            emptyValues: Object.fromEntries(
              clearable(d)
                .filter((f) => d.clearWhenEmpty.includes(f))
                .map((f) => [f, 'clear' as const]),
            ),
          }
        : {}),
      ...(fields.length ? { fields: Object.fromEntries(fields.map((a) => [a.fieldId, a.column.trim()])) } : {}),
    },
    tags: d.tags
      .split(TAG_SEPARATOR)
      .map((t) => t.trim())
      .filter(Boolean),
    runAutomations: d.runAutomations,
    removeTagsWhenLeaving: d.removeTagsWhenLeaving,
    mode: d.mode,
    removalGuardPercent: d.removalGuardPercent.trim() === '' ? Number.NaN : Number(d.removalGuardPercent),
    schedule: d.schedule,
  };
}

/**
 * What an edit changed: only the settings whose value differs from the export's, so that an edit
 * never sends (and never rewrites) a value the person did not touch.
 */
export function changesOf(before: CreateExportBody, after: CreateExportBody): UpdateExportBody {
  const changed: Record<string, unknown> = {};
  for (const key of Object.keys(after) as (keyof CreateExportBody)[]) {
    if (JSON.stringify(after[key]) !== JSON.stringify(before[key])) changed[key] = after[key];
  }
  return changed;
}

/** The problems the form can see without asking the app: required fields, and numbers. */
export function problemsOf(d: Draft): Partial<Record<FormField, string>> {
  const problems: Partial<Record<FormField, string>> = {};
  if (!d.displayName.trim()) problems.displayName = 'Enter a display name';
  if (!d.connectionId) problems.connectionId = 'Choose a connection';
  if (!d.listText.trim()) problems.listId = 'Choose an ActiveCampaign list, or type its ID';
  if (!d.container.trim()) problems.container = 'Enter the container where the segment lands';
  if (!d.email.trim()) problems.email = 'Choose the column that holds the email address';
  if (d.mode === 'mirror' && !/^(100|\d{1,2})$/.test(d.removalGuardPercent.trim()))
    problems.removalGuardPercent = 'Removal guard (%) must be a whole number from 0 to 100';
  return problems;
}

/** The form field an API message names ("source.container: …", "mapping.fields.3: …"). */
export function formFieldOf(apiField: string | undefined): FormField | undefined {
  if (!apiField) return undefined;
  const [head, second] = apiField.split('.');
  if (head === 'source') return (['container', 'path', 'table'] as const).find((f) => f === second) ?? 'container';
  if (head === 'mapping')
    return second === 'tags'
      ? 'tagsColumn'
      : second === 'fields'
        ? 'fields'
        : ((['email', 'firstName', 'lastName', 'phone', 'identity'] as const).find((f) => f === second) ?? 'email');
  return (FORM_FIELDS as readonly string[]).includes(head) ? (head as FormField) : undefined;
}

/** An API message about a field as a sentence that names it: "Display name is required", not "is required". */
export function sentence(field: FormField, detail: string): string {
  return /^(is|must|has|names)\b/.test(detail) ? `${FIELD_LABELS[field]} ${detail}` : detail;
}
