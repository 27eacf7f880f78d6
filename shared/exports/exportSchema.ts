import { z } from 'zod';
import { displayName } from '../displayName.js';
import { DEFAULT_REMOVAL_GUARD_PERCENT } from '../sync/removalGuard.js';
import { MAX_TAGS, tagProblem, VALUE_SEPARATOR } from '../sync/values.js';

/**
 * The request bodies of exports and runs. The same schemas validate requests and describe them in
 * the OpenAPI document (their descriptions are the API's field documentation).
 */
const column = z.string().trim().min(1).max(256);

/** ActiveCampaign ids are positive 32-bit integers. */
export const MAX_ACTIVECAMPAIGN_ID = 2_147_483_647;

const listId = z
  .union(
    [
      z.number().int().positive().max(MAX_ACTIVECAMPAIGN_ID),
      z
        .string()
        .regex(/^[1-9]\d{0,9}$/)
        .transform(Number),
    ],
    { error: 'must be a list ID (a positive whole number)' },
  )
  .refine((n) => n <= MAX_ACTIVECAMPAIGN_ID, 'must be at most 2147483647')
  .describe(
    'The ActiveCampaign list id the segment is kept in sync with (Lists in ActiveCampaign, or GET /api/connections/{id}/lists)',
  );

/**
 * Custom field id → column. Keys are checked on the raw object: a key such as "__proto__" would otherwise vanish
 * silently.
 */
const fieldMap = z.preprocess(
  (raw, ctx) => {
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const key of Object.keys(raw)) {
        if (!/^[1-9]\d{0,9}$/.test(key) || Number(key) > MAX_ACTIVECAMPAIGN_ID)
          ctx.addIssue({
            code: 'custom',
            message: `"${key}" is not an ActiveCampaign custom field id (a positive number)`,
          });
      }
    }
    return raw;
  },
  z.record(z.string().regex(/^[1-9]\d{0,9}$/), column),
);

export const sourceSchema = z
  .strictObject({
    container: z
      .string()
      .trim()
      .min(1)
      .max(63)
      .describe('A container of SEGMENTS_STORAGE (lower-case letters, digits, hyphens)'),
    path: z
      .string()
      .trim()
      .max(1024)
      .describe(
        'The folder or file in the container: a Common Data Model folder (with model.json), a Customer Insights table folder, a file or a folder of files',
      ),
    table: z
      .string()
      .trim()
      .min(1)
      .max(256)
      .optional()
      .describe('Common Data Model folders: the entity to read (needed when model.json has several)'),
  })
  .describe('Where the segment lands in Blob Storage');

export const mappingSchema = z
  .strictObject({
    email: column.describe('The column holding the email address (required)'),
    firstName: column.optional().describe('The column sent as first name'),
    lastName: column.optional().describe('The column sent as last name'),
    phone: column
      .optional()
      .describe('The column sent as phone (digits, spaces and + ( ) - . /, at most 30 characters)'),
    fields: fieldMap
      .optional()
      .describe(
        "ActiveCampaign custom field id → column (GET /api/connections/{id}/fields lists the ids). Values are converted to the field's type: dates, date-times, numbers, options",
      ),
    tags: column
      .optional()
      .describe(
        `A column whose value holds tags for the contact: a JSON array, or tags separated by "${VALUE_SEPARATOR}"`,
      ),
    emptyValues: z
      .record(z.string(), z.enum(['keep', 'clear']))
      .optional()
      .describe(
        'Per mapped field (firstName, lastName, phone or a custom field id): keep (default) leaves the value in ActiveCampaign when the source value is empty; clear empties it (PUT /contacts/{id}, for contacts the export sent before)',
      ),
    identity: column
      .optional()
      .describe(
        "A stable identity column (Customer Insights' CustomerId): when a profile's email changes, the same ActiveCampaign contact gets the new email (PUT /contacts/{id}) instead of a second contact being created; a new email another contact already has is rejected, never merged",
      ),
  })
  .superRefine((m, ctx) => {
    const mapped = new Set([
      ...(['firstName', 'lastName', 'phone'] as const).filter((k) => m[k]),
      ...Object.keys(m.fields ?? {}),
    ]);
    for (const key of Object.keys(m.emptyValues ?? {}))
      if (!mapped.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['emptyValues', key],
          message: `"${key}" is not a mapped field (firstName, lastName, phone or a mapped custom field id)`,
        });
  })
  .describe(
    'Data matching: which source column fills which ActiveCampaign field. Column names match exactly, then ignoring case',
  );

const exportFields = {
  displayName,
  listId,
  source: sourceSchema,
  mapping: mappingSchema,
  mode: z
    .enum(['upsert', 'mirror', 'updateOnly'])
    .describe(
      'upsert (default): new and changed contacts are subscribed, contacts who left the segment stay. mirror: also unsubscribes contacts who left the segment (ActiveCampaign cannot re-subscribe them by import; the app does it through contactLists when they return). updateOnly: each contact is looked up first; only those ActiveCampaign already has are updated and subscribed, the others are counted as notInActiveCampaign and never created',
    ),
  schedule: z
    .enum(['refresh', 'manual'])
    .describe(
      'refresh (default): runs on every scheduled refresh (REFRESH_SCHEDULE, every 15 minutes by default) that finds a new complete snapshot; manual: only on demand',
    ),
  tags: z
    .array(
      z
        .string()
        .trim()
        .superRefine((tag, ctx) => {
          const problem = tagProblem(tag);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
    )
    .max(MAX_TAGS)
    .describe(
      `Tags added to every contact the export sends (at most ${MAX_TAGS}; a tag has a visible character, at most 255 characters, no control characters and no "${VALUE_SEPARATOR}", which separates tags). ActiveCampaign's importer adds tags and never removes them`,
    ),
  runAutomations: z
    .boolean()
    .describe(
      'true (default): ActiveCampaign runs its automations for imported contacts; false: contacts are sent with exclude_automations',
    ),
  removeTagsWhenLeaving: z
    .boolean()
    .describe(
      "true: contacts who leave the segment lose the export's tags (matched by name, any case), one request per contact and tag; false (default): tags stay",
    ),
  removalGuardPercent: z
    .number()
    .int()
    .min(0)
    .max(100)
    .describe(
      `Mirror mode: the most a run may unsubscribe, in % of the contacts the export last sent, without confirmRemovals (default ${DEFAULT_REMOVAL_GUARD_PERCENT}; only administrators may set more)`,
    ),
};

export const createExportSchema = z.strictObject({
  ...exportFields,
  connectionId: z.string().trim().min(1).max(100).describe('The connection the export sends through'),
  mode: exportFields.mode.optional(),
  schedule: exportFields.schedule.optional(),
  tags: exportFields.tags.optional(),
  runAutomations: exportFields.runAutomations.optional(),
  removeTagsWhenLeaving: exportFields.removeTagsWhenLeaving.optional(),
  removalGuardPercent: exportFields.removalGuardPercent.optional(),
});

export const updateExportSchema = z
  .strictObject({
    displayName: exportFields.displayName.optional(),
    connectionId: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .optional()
      .describe(
        'Move the export to another connection (checked as on creation); another ActiveCampaign account starts afresh, as another list does',
      ),
    listId: listId.optional(),
    source: sourceSchema.optional(),
    mapping: mappingSchema.optional(),
    mode: exportFields.mode.optional(),
    schedule: exportFields.schedule.optional(),
    tags: exportFields.tags.optional(),
    runAutomations: exportFields.runAutomations.optional(),
    removeTagsWhenLeaving: exportFields.removeTagsWhenLeaving.optional(),
    removalGuardPercent: exportFields.removalGuardPercent.optional(),
  })
  .describe(
    'The settings to change; the others stay. Validated as on creation. Another listId starts afresh: the export forgets its state and the next run sends every contact to the new list (the old list is left as it is)',
  );

export const startRunSchema = z.strictObject({
  dryRun: z
    .boolean()
    .optional()
    .describe('Plan and count, write the rejected rows and a sample of the payloads, send nothing'),
  fullSync: z.boolean().optional().describe('Send every contact again, changed or not'),
  confirmRemovals: z
    .preprocess(
      (value, ctx) => {
        if (typeof value === 'boolean') {
          ctx.addIssue({
            code: 'custom',
            message:
              'give the id of the run the removal guard stopped ({"confirmRemovals": "<runId>"}): a confirmation covers exactly the removals that run showed',
          });
          return z.NEVER;
        }
        return value;
      },
      z
        .string()
        .regex(/^\d{13}[0-9a-f]{8}$/, 'must be the id of the run the removal guard stopped')
        .optional(),
    )
    .describe(
      'Mirror mode, administrators only: the id of the run the removal guard stopped, whose removals this run may make. It unsubscribes only if the snapshot and the numbers are still exactly what that run showed (otherwise it stops with the new numbers), within 24 hours of that run',
    ),
});

export const listRunsQuery = z.strictObject({
  top: z.coerce.number().int().min(1).max(100).optional(),
  continuationToken: z.string().max(2000).optional(),
});

export const previewSchema = z.strictObject({
  container: sourceSchema.shape.container,
  path: sourceSchema.shape.path,
  table: sourceSchema.shape.table,
});

export type CreateExportInput = z.infer<typeof createExportSchema>;
export type UpdateExportInput = z.infer<typeof updateExportSchema>;
export type StartRunInput = z.infer<typeof startRunSchema>;
/** The bodies as a client sends them (before the schemas' transforms): the console's request types. */
export type CreateExportBody = z.input<typeof createExportSchema>;
export type UpdateExportBody = z.input<typeof updateExportSchema>;
export type StartRunBody = z.input<typeof startRunSchema>;
