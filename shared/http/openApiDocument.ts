import { z } from 'zod';
import { AUDIT_ACTIONS } from '../audit/auditLog.js';
import { erasureSchema } from '../erasures/erasureService.js';
import { createWebhookSchema } from '../webhooks/webhookService.js';
import { WEBHOOK_EVENTS } from '../webhooks/webhookModel.js';
import {
  checkConnectionSchema,
  createConnectionSchema,
  createListSchema,
  updateConnectionSchema,
} from '../connections/connectionService.js';
import { createExportSchema, previewSchema, startRunSchema, updateExportSchema } from '../exports/exportSchema.js';
import { COUNT_NAMES } from '../model.js';

/**
 * The HTTP API described as OpenAPI 3.1. Request bodies come from the same zod schemas that
 * validate them (their descriptions document the fields); `npm run openapi` writes this to
 * openapi.json, and a test keeps the two equal and checks every answer against it.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const body = (schema: z.ZodType) => ({
  required: true,
  content: { 'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) } },
});
const json = (description: string, schema: object, headers?: object) => ({
  description,
  content: { 'application/json': { schema } },
  ...(headers ? { headers } : {}),
});
const error = (description: string) => json(description, ref('Error'));
const read = {
  '401': error('No caller (App Service Authentication principal)'),
  '403': error('The caller lacks the role'),
};
const write = {
  '400': error('The request is invalid: the message names the field'),
  ...read,
  '415': error('State-changing calls must send content-type: application/json'),
};
const location = { Location: { schema: { type: 'string' }, description: 'URL of the new resource' } };
const idParam = (name: string, what: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: what,
});
const security = [{ appServiceAuthentication: [] }];
/** `top` and `continuationToken` of a paged listing. */
const pageParameters = (items: string) => [
  {
    name: 'top',
    in: 'query',
    schema: { type: 'integer', minimum: 1, maximum: 100 },
    description: `${items[0].toUpperCase()}${items.slice(1)} per page (default 50)`,
  },
  {
    name: 'continuationToken',
    in: 'query',
    schema: { type: 'string' },
    description: 'The next page, as the previous answer named it',
  },
];
const list = (item: object, extra: object = {}) => ({
  type: 'object',
  required: ['value'],
  properties: { value: { type: 'array', items: item }, ...extra },
});

const counts = {
  type: 'object',
  required: [...COUNT_NAMES],
  properties: Object.fromEntries(COUNT_NAMES.map((k) => [k, { type: 'integer', minimum: 0 }])),
  description:
    'At a terminal status every row read is accounted for once: read = rejected + duplicate + unchanged + upserted + failed + unknown + notSent + notInActiveCampaign + wouldUpsert. ' +
    'failed: ActiveCampaign refused or could not process the contact; unknown: sent, but whether it arrived is not known (its answers were lost: the next run sends it again); ' +
    'notSent: never sent because the run ended first (cancelled, or failed as a whole); notInActiveCampaign: update-only mode, ActiveCampaign has no contact with the email, so none was created; emailChanged: mapping.identity, the same contact got its new email (also in upserted once imported); wouldUpsert, wouldUnsubscribe: what a dry run would send (it sends nothing). ' +
    'unsubscribed, untagged (lost the export tags: removeTagsWhenLeaving) and wouldUnsubscribe count contacts who left the segment, not rows read',
};
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };

const schemas = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'string' }, message: { type: 'string' } },
      },
      runId: { type: 'string', description: 'With 409 RunActive: the active run' },
      retryAfterSeconds: {
        type: 'integer',
        description: 'With 409 SnapshotNotReady: when the snapshot may be complete',
      },
      exports: {
        type: 'array',
        items: { type: 'object' },
        description: 'With 409 ConnectionInUse: the exports that use the connection',
      },
    },
  },
  Connection: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'displayName', 'hostname', 'allowContributors', 'dataPrivacyConsent', 'createdAt', 'createdBy'],
    properties: {
      id: { type: 'string' },
      displayName: { type: 'string' },
      hostname: { type: 'string', description: "The account's API hostname, such as acme.api-us1.com" },
      allowContributors: { type: 'boolean', description: 'Whether contributors may use the connection' },
      dataPrivacyConsent: {
        type: 'object',
        required: ['givenBy', 'givenAt'],
        properties: { givenBy: { type: 'string' }, givenAt: { type: 'string', format: 'date-time' } },
      },
      createdAt: { type: 'string', format: 'date-time' },
      createdBy: { type: 'string' },
    },
  },
  Export: {
    type: 'object',
    additionalProperties: false,
    required: [
      'id',
      'displayName',
      'connectionId',
      'listId',
      'source',
      'mapping',
      'mode',
      'schedule',
      'tags',
      'runAutomations',
      'removeTagsWhenLeaving',
      'removalGuardPercent',
      'fieldTypes',
      'createdAt',
      'createdBy',
    ],
    properties: {
      id: { type: 'string' },
      displayName: { type: 'string' },
      connectionId: { type: 'string' },
      listId: { type: 'integer' },
      source: {
        type: 'object',
        required: ['container', 'path'],
        properties: { container: { type: 'string' }, path: { type: 'string' }, table: { type: 'string' } },
      },
      mapping: {
        type: 'object',
        required: ['email'],
        properties: {
          email: { type: 'string' },
          firstName: { type: 'string' },
          lastName: { type: 'string' },
          phone: { type: 'string' },
          tags: { type: 'string' },
          identity: {
            type: 'string',
            description:
              'A stable identity column (CustomerId): a changed email changes the same contact (PUT /contacts/{id}); counted as emailChanged',
          },
          fields: { ...stringMap, description: 'ActiveCampaign custom field id → column' },
          emptyValues: {
            type: 'object',
            additionalProperties: { enum: ['keep', 'clear'] },
            description:
              'Per mapped field (firstName, lastName, phone, custom field id): clear empties a value the source emptied',
          },
        },
      },
      mode: {
        enum: ['upsert', 'mirror', 'updateOnly'],
        description:
          'updateOnly: only contacts that already exist in ActiveCampaign are updated (each is looked up first, one request); the others count as notInActiveCampaign',
      },
      schedule: {
        enum: ['refresh', 'manual'],
        description:
          'refresh: every scheduled refresh that finds a new complete snapshot (REFRESH_SCHEDULE); manual: on demand only',
      },
      tags: {
        type: 'array',
        items: { type: 'string' },
        description: "Added to every contact sent; ActiveCampaign's importer never removes tags",
      },
      runAutomations: { type: 'boolean' },
      removeTagsWhenLeaving: {
        type: 'boolean',
        description:
          "Contacts who leave the segment lose the export's tags (one request per contact, and per tag it has); counted as untagged",
      },
      removalGuardPercent: { type: 'integer', minimum: 0, maximum: 100 },
      fieldTypes: {
        type: 'object',
        additionalProperties: ref('Field'),
        description: 'The mapped custom fields as ActiveCampaign described them when the export was saved',
      },
      createdAt: { type: 'string', format: 'date-time' },
      createdBy: { type: 'string' },
      updatedAt: { type: 'string', format: 'date-time' },
      updatedBy: { type: 'string' },
      refresh: {
        type: 'object',
        additionalProperties: false,
        required: ['wouldRun'],
        description:
          'GET /api/exports/{id} only: what the scheduled refresh will do with the export, as things stand now',
        properties: {
          nextCheckAt: { type: 'string', format: 'date-time', description: 'The next tick of REFRESH_SCHEDULE (UTC)' },
          wouldRun: {
            type: 'boolean',
            description: 'Whether that tick would start a run if nothing changed before it',
          },
          reason: {
            type: 'string',
            description:
              'Why it would not: on demand only, an active run, no complete snapshot yet, the snapshot already exported, a removal-guard stop or a cancel waiting for a person, or failed runs backing off (with the next try)',
          },
          lastEvent: {
            type: 'object',
            additionalProperties: false,
            required: ['at', 'blob'],
            description:
              'The last blob of the source that the app saw land and that set off a check (a new snapshot starts its run within seconds; the tick finds what an event missed)',
            properties: {
              at: { type: 'string', format: 'date-time', description: 'When the blob was created' },
              blob: { type: 'string', description: 'container/name of the blob' },
            },
          },
        },
      },
    },
  },
  Field: {
    type: 'object',
    required: ['id', 'title', 'type'],
    properties: {
      id: { type: 'string' },
      title: { type: 'string' },
      type: { type: 'string' },
      options: { type: 'array', items: { type: 'string' } },
    },
  },
  List: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } },
  Run: {
    type: 'object',
    additionalProperties: false,
    required: ['runId', 'exportId', 'trigger', 'status', 'counts', 'startedAt', 'dryRun', 'fullSync', 'batches'],
    properties: {
      runId: { type: 'string' },
      exportId: { type: 'string' },
      trigger: { enum: ['manual', 'schedule'] },
      status: { enum: ['queued', 'planning', 'sending', 'completed', 'completedWithErrors', 'failed', 'cancelled'] },
      snapshot: {
        type: 'object',
        required: ['id', 'files'],
        properties: {
          id: { type: 'string' },
          files: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'etag'],
              properties: { name: { type: 'string' }, etag: { type: 'string' } },
            },
          },
        },
      },
      counts,
      error: {
        type: 'string',
        description: 'Why the run failed, or (completedWithErrors) a summary of its rejections and failures',
      },
      reasons: {
        type: 'array',
        description: 'Reasons for rejected and failed contacts, commonest first (the rejected rows have the details)',
        items: {
          type: 'object',
          required: ['kind', 'reason', 'count'],
          properties: {
            kind: { enum: ['rejected', 'failed'] },
            reason: { type: 'string' },
            count: { type: 'integer' },
          },
        },
      },
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: {
        type: 'string',
        format: 'date-time',
        description:
          'Set once nothing more can be sent for the run; when posts were in flight as it ended, a moment after the status turns terminal. Nothing is sent after this time',
      },
      warnings: {
        type: 'array',
        items: { type: 'string' },
        description: 'What to know although the run went on (a person erased on request is in the segment again)',
      },
      rejectedRows: {
        type: 'string',
        description:
          'container/name of the CSV of rejected rows (file, row, email, reason); download it from …/rejected',
      },
      payloadSample: {
        type: 'string',
        description: 'Dry runs: container/name of a sample of the payloads; read it from …/sample',
      },
      changes: {
        type: 'string',
        description:
          'container/name of the list of emails the run added, updated, unsubscribed or re-subscribed; download it with their outcomes from …/changes',
      },
      dryRun: { type: 'boolean' },
      fullSync: { type: 'boolean' },
      confirmRemovals: {
        type: 'string',
        description: 'The run the removal guard stopped whose removals this run was started to confirm',
      },
      batches: {
        type: 'object',
        required: ['done'],
        properties: { total: { type: 'integer' }, done: { type: 'integer' } },
      },
      removals: {
        type: 'object',
        description: 'Mirror mode: the removal guard as this run measured it',
        required: ['unsubscribes', 'lastSent', 'limitPercent', 'allowed', 'exceeded', 'confirmed'],
        properties: {
          unsubscribes: { type: 'integer' },
          lastSent: { type: 'integer' },
          limitPercent: { type: 'integer' },
          allowed: { type: 'integer' },
          exceeded: { type: 'boolean' },
          confirmed: { type: 'boolean' },
        },
      },
      lastProgressAt: { type: 'string', format: 'date-time' },
    },
  },
  RunStarted: {
    type: 'object',
    required: ['runId', 'status'],
    properties: { runId: { type: 'string' }, status: { const: 'queued' } },
  },
  Preview: {
    type: 'object',
    required: ['source', 'files', 'columns', 'rows', 'ready'],
    properties: {
      source: { type: 'object' },
      layout: {
        enum: ['cdm', 'customerInsights', 'files'],
        description: 'The layout recognised: a Common Data Model folder, a Customer Insights time folder, or files',
      },
      files: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, size: { type: 'integer' }, lastModified: { type: 'string' } },
        },
      },
      columns: { type: 'array', items: { type: 'string' } },
      rows: { type: 'array', items: stringMap },
      problem: { type: 'string', description: 'A structural problem, in the words a run would use' },
      ready: { type: 'boolean', description: 'false while the snapshot is still being written, or has a problem' },
      retryAfterSeconds: {
        type: 'integer',
        description: 'While the snapshot is still being written: when to look again (as starting a run answers)',
      },
    },
  },
  Webhook: {
    type: 'object',
    required: ['id', 'url', 'events', 'createdAt', 'createdBy'],
    properties: {
      id: { type: 'string' },
      url: { type: 'string', description: 'An https endpoint (a public address)' },
      events: { type: 'array', items: { enum: [...WEBHOOK_EVENTS] } },
      createdAt: { type: 'string', format: 'date-time' },
      createdBy: { type: 'string' },
      lastDelivery: {
        type: 'object',
        required: ['at', 'eventType', 'ok', 'attempt'],
        description: 'The last delivery (or test) and what the endpoint did',
        properties: {
          at: { type: 'string', format: 'date-time' },
          eventType: { enum: [...WEBHOOK_EVENTS] },
          ok: { type: 'boolean' },
          status: { type: 'integer', description: "The endpoint's HTTP status" },
          error: { type: 'string' },
          attempt: { type: 'integer', description: 'Tries so far' },
          nextAttemptAt: { type: 'string', format: 'date-time', description: 'A failed delivery is tried again then' },
        },
      },
    },
  },
  AuditEntry: {
    type: 'object',
    required: ['id', 'at', 'actor', 'action', 'target'],
    properties: {
      id: { type: 'string' },
      at: { type: 'string', format: 'date-time' },
      actor: {
        type: 'object',
        required: ['name', 'role'],
        description: "A person, or the app's schedule (`schedule`, role `app`)",
        properties: { name: { type: 'string' }, role: { enum: ['admin', 'contributor', 'none', 'app'] } },
      },
      action: { enum: [...AUDIT_ACTIONS] },
      target: {
        type: 'object',
        required: ['type', 'id'],
        properties: {
          type: { enum: ['connection', 'export', 'run', 'webhook', 'erasure'] },
          id: { type: 'string' },
          name: { type: 'string' },
        },
      },
      details: {
        type: 'object',
        additionalProperties: { type: ['string', 'number', 'boolean'] },
        description: 'What changed (field names, a run id, a trigger): never a key or a secret',
      },
    },
  },
  Erasure: {
    type: 'object',
    required: ['id', 'at', 'by', 'action', 'emailHash', 'exports', 'activeCampaign', 'filesRewritten'],
    description: 'What an erasure did; never the email',
    properties: {
      id: { type: 'string' },
      at: { type: 'string', format: 'date-time' },
      by: { type: 'string' },
      action: { enum: ['delete', 'unsubscribe'] },
      emailHash: {
        type: 'string',
        description: 'SHA-256 (hex) of the normalised email: a later run warns when the person is back',
      },
      exports: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'displayName', 'inState'],
          properties: { id: { type: 'string' }, displayName: { type: 'string' }, inState: { type: 'boolean' } },
        },
      },
      activeCampaign: {
        type: 'array',
        items: {
          type: 'object',
          required: ['connectionId', 'displayName', 'outcome'],
          properties: {
            connectionId: { type: 'string' },
            displayName: { type: 'string' },
            outcome: { type: 'string', description: 'deleted, unsubscribed from list(s) …, not found, or failed: …' },
          },
        },
      },
      filesRewritten: { type: 'integer' },
    },
  },
  Me: {
    type: 'object',
    required: ['name', 'role'],
    properties: { name: { type: 'string' }, role: { enum: ['admin', 'contributor', 'none'] } },
  },
};

const paths = {
  '/health': {
    get: {
      operationId: 'health',
      summary: 'Liveness',
      responses: { '200': json('The app is up', { type: 'object', properties: { status: { const: 'ok' } } }) },
    },
  },
  '/openapi.json': {
    get: {
      operationId: 'openApi',
      summary: 'This document',
      responses: { '200': json('The OpenAPI document', { type: 'object' }) },
    },
  },
  '/me': {
    get: {
      operationId: 'me',
      summary: 'The caller as the server sees it',
      security,
      responses: { '200': json('Name and role', ref('Me')), '401': read['401'] },
    },
  },
  '/connections': {
    post: {
      operationId: 'createConnection',
      summary: 'Create a connection (admin): the key is checked with ActiveCampaign and stored in Key Vault',
      security,
      requestBody: body(createConnectionSchema),
      responses: { '201': json('Created; the API key is never returned', ref('Connection'), location), ...write },
    },
    get: {
      operationId: 'listConnections',
      summary: 'Connections the caller may use',
      security,
      responses: { '200': json('The connections', list(ref('Connection'))), ...read },
    },
  },
  '/connections/check': {
    post: {
      operationId: 'checkConnection',
      summary:
        'Check a hostname and API key with ActiveCampaign without saving anything (admin; the console\'s "Connect")',
      security,
      requestBody: body(checkConnectionSchema),
      responses: {
        '200': json('ActiveCampaign accepted the key', {
          type: 'object',
          required: ['hostname', 'user'],
          properties: {
            hostname: { type: 'string' },
            user: { type: 'object', properties: { username: { type: 'string' }, email: { type: 'string' } } },
          },
        }),
        ...write,
      },
    },
  },
  '/connections/{id}': {
    parameters: [idParam('id', 'Connection id')],
    get: {
      operationId: 'getConnection',
      security,
      responses: {
        '200': json('The connection', ref('Connection')),
        ...read,
        '404': error('No such connection (or not visible to the caller)'),
      },
    },
    patch: {
      operationId: 'updateConnection',
      summary: 'Replace the API key (checked first), rename, or change who may use it (admin)',
      security,
      requestBody: body(updateConnectionSchema),
      responses: { '200': json('Updated', ref('Connection')), ...write, '404': error('No such connection') },
    },
    delete: {
      operationId: 'deleteConnection',
      summary: 'Delete a connection and its key (admin)',
      security,
      responses: {
        '204': { description: 'Deleted' },
        ...read,
        '415': write['415'],
        '404': error('No such connection'),
        '409': error('Exports use the connection (named in `exports`)'),
      },
    },
  },
  '/connections/{id}/lists': {
    parameters: [idParam('id', 'Connection id')],
    get: {
      operationId: 'listConnectionLists',
      summary: "The ActiveCampaign account's lists",
      security,
      responses: {
        '200': json('The lists', list(ref('List'))),
        ...read,
        '404': error('No such connection'),
        '409': error('ActiveCampaign refused the key'),
        '502': error('ActiveCampaign did not answer'),
      },
    },
    post: {
      operationId: 'createConnectionList',
      summary:
        'Create a list in the ActiveCampaign account (whoever may use the connection; recorded in the audit log)',
      security,
      requestBody: body(createListSchema),
      responses: {
        '201': json('The new list', ref('List')),
        ...write,
        '404': error('No such connection'),
        '409': error('ActiveCampaign refused the key'),
        '502': error('ActiveCampaign did not answer, or refused the list'),
      },
    },
  },
  '/connections/{id}/fields': {
    parameters: [idParam('id', 'Connection id')],
    get: {
      operationId: 'listConnectionFields',
      summary: "The ActiveCampaign account's custom fields, with types and options",
      security,
      responses: {
        '200': json('The fields', list(ref('Field'))),
        ...read,
        '404': error('No such connection'),
        '409': error('ActiveCampaign refused the key'),
        '502': error('ActiveCampaign did not answer'),
      },
    },
  },
  '/sources/preview': {
    post: {
      operationId: 'previewSource',
      summary: 'What a segment source holds: layout, files, columns, first rows (bounded work)',
      security,
      requestBody: body(previewSchema),
      responses: { '200': json('The preview', ref('Preview')), ...write },
    },
  },
  '/exports': {
    post: {
      operationId: 'createExport',
      summary: 'Create an export (admin, or contributor on a connection that allows it). Saving does not run it',
      security,
      requestBody: body(createExportSchema),
      responses: {
        '201': json('Created', ref('Export'), location),
        ...write,
        '409': error('The connection was deleted meanwhile'),
      },
    },
    get: {
      operationId: 'listExports',
      security,
      responses: { '200': json('The exports', list(ref('Export'))), ...read },
    },
  },
  '/exports/{id}': {
    parameters: [idParam('id', 'Export id')],
    get: {
      operationId: 'getExport',
      security,
      responses: { '200': json('The export', ref('Export')), ...read, '404': error('No such export') },
    },
    patch: {
      operationId: 'updateExport',
      summary: 'Edit an export (validated as on creation); not while a run is active',
      security,
      requestBody: body(updateExportSchema),
      responses: {
        '200': json('Updated', ref('Export')),
        ...write,
        '404': error('No such export'),
        '409': error('A run of the export is active; runId names it'),
      },
    },
    delete: {
      operationId: 'deleteExport',
      summary: "Delete an export: stops its schedule, cancels an active run, deletes its state and its runs' files",
      security,
      responses: { '204': { description: 'Deleted' }, ...read, '415': write['415'], '404': error('No such export') },
    },
  },
  '/exports/{id}/runs': {
    parameters: [idParam('id', 'Export id')],
    post: {
      operationId: 'startRun',
      summary: 'Start a run on demand',
      security,
      requestBody: { ...body(startRunSchema), required: false },
      responses: {
        '202': json('Queued', ref('RunStarted'), location),
        ...write,
        '404': error('No such export'),
        '409': error(
          'A run of the export is active (runId names it), or the snapshot is still being written (retryAfterSeconds)',
        ),
      },
    },
    get: {
      operationId: 'listRuns',
      summary: 'Runs of the export, newest first, a page at a time',
      security,
      parameters: pageParameters('runs'),
      responses: {
        '200': json(
          'A page of runs',
          list(ref('Run'), { continuationToken: { type: 'string', description: 'Present when there are more runs' } }),
        ),
        '400': write['400'],
        ...read,
        '404': error('No such export'),
      },
    },
  },
  '/exports/{id}/runs/{runId}': {
    parameters: [idParam('id', 'Export id'), idParam('runId', 'Run id')],
    get: {
      operationId: 'getRun',
      security,
      responses: { '200': json('The run', ref('Run')), ...read, '404': error('No such export or run') },
    },
  },
  '/exports/{id}/runs/{runId}/cancel': {
    parameters: [idParam('id', 'Export id'), idParam('runId', 'Run id')],
    post: {
      operationId: 'cancelRun',
      summary: "Cancel a run: nothing is sent after the answer, the counts add up, the export's state stays",
      security,
      responses: {
        '202': json('Cancelled', ref('Run')),
        ...read,
        '415': write['415'],
        '404': error('No such export or run'),
        '409': error('The run already ended'),
      },
    },
  },
  '/exports/{id}/runs/{runId}/rejected': {
    parameters: [idParam('id', 'Export id'), idParam('runId', 'Run id')],
    get: {
      operationId: 'getRejectedRows',
      summary: "The run's rejected rows as CSV (file, row, email, reason)",
      security,
      responses: {
        '200': { description: 'The CSV', content: { 'text/csv': { schema: { type: 'string' } } } },
        ...read,
        '404': error('No such run, or it has no rejected rows (or they are past RUN_RETENTION_DAYS)'),
      },
    },
  },
  '/exports/{id}/runs/{runId}/changes': {
    parameters: [idParam('id', 'Export id'), idParam('runId', 'Run id')],
    get: {
      operationId: 'getRunChanges',
      summary:
        'The emails the run added, updated, unsubscribed, re-subscribed, untagged or changed (emailChanged: the new email), as CSV (email, change, outcome: applied, failed, unknown, notSent, notInActiveCampaign, pending or dryRun)',
      security,
      responses: {
        '200': { description: 'The CSV', content: { 'text/csv': { schema: { type: 'string' } } } },
        ...read,
        '404': error('No such run, or it changed no contact (or its files are past RUN_RETENTION_DAYS)'),
      },
    },
  },
  '/audit': {
    get: {
      operationId: 'listAudit',
      summary: 'Who did what (admin), newest first, a page at a time',
      security,
      parameters: pageParameters('entries'),
      responses: {
        '200': json(
          'A page of the audit log',
          list(ref('AuditEntry'), {
            continuationToken: { type: 'string', description: 'Present when there are older entries' },
          }),
        ),
        '400': write['400'],
        ...read,
      },
    },
  },
  '/erasures': {
    post: {
      operationId: 'createErasure',
      summary:
        "Erase a person (admin): delete the contact in ActiveCampaign (or only unsubscribe it), take the email out of every export's state and run files; keeps a record without the email",
      security,
      requestBody: body(erasureSchema),
      responses: {
        '201': json('Erased', ref('Erasure')),
        ...write,
        '409': error('An export has an active run (its end would write the email back) or is being edited'),
      },
    },
    get: {
      operationId: 'listErasures',
      summary: 'The erasures (admin), newest first',
      security,
      responses: { '200': json('The erasures', list(ref('Erasure'))), ...read },
    },
  },
  '/webhooks': {
    post: {
      operationId: 'createWebhook',
      summary:
        'Register an endpoint for run events (admin). Its signing secret is in this answer only (kept in Key Vault)',
      security,
      requestBody: body(createWebhookSchema),
      responses: {
        '201': json(
          'Registered',
          {
            allOf: [
              ref('Webhook'),
              {
                type: 'object',
                required: ['secret'],
                properties: {
                  secret: {
                    type: 'string',
                    description:
                      'Signs every delivery: Segment-Export-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">',
                  },
                },
              },
            ],
          },
          location,
        ),
        ...write,
        '409': error('There are already as many webhooks as the app keeps'),
      },
    },
    get: {
      operationId: 'listWebhooks',
      summary: 'The registered endpoints (admin), with their last delivery; never the secret',
      security,
      responses: { '200': json('The endpoints', list(ref('Webhook'))), ...read },
    },
  },
  '/webhooks/{id}': {
    parameters: [idParam('id', 'Webhook id')],
    delete: {
      operationId: 'deleteWebhook',
      summary: 'Delete an endpoint and its secret (admin); deliveries on their way are dropped',
      security,
      responses: { '204': { description: 'Deleted' }, ...read, '404': error('No such webhook') },
    },
  },
  '/webhooks/{id}/test': {
    parameters: [idParam('id', 'Webhook id')],
    post: {
      operationId: 'testWebhook',
      summary: 'Send a sample run.completed event (marked test: true) now, once, and say what the endpoint did',
      security,
      responses: {
        '200': json('What the endpoint did', {
          type: 'object',
          required: ['ok', 'eventId'],
          properties: {
            ok: { type: 'boolean', description: 'The endpoint answered 2xx' },
            status: { type: 'integer' },
            error: { type: 'string' },
            eventId: { type: 'string' },
          },
        }),
        ...read,
        '415': write['415'],
        '404': error('No such webhook'),
      },
    },
  },
  '/exports/{id}/runs/{runId}/sample': {
    parameters: [idParam('id', 'Export id'), idParam('runId', 'Run id')],
    get: {
      operationId: 'getPayloadSample',
      summary: "A dry run's sample of the payloads it would send",
      security,
      responses: {
        '200': json('The sample', { type: 'object' }),
        ...read,
        '404': error('No such run, or it has no sample'),
      },
    },
  },
};

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Segment export to ActiveCampaign',
      version: '1.1.0',
      description:
        'Connections to ActiveCampaign accounts, exports of segments into ActiveCampaign lists, and their runs. ' +
        "ActiveCampaign's importer adds tags and never removes them, and cannot re-subscribe a contact who unsubscribed from a list. " +
        'State-changing calls accept only application/json bodies.',
    },
    servers: [{ url: '/api' }],
    components: {
      securitySchemes: {
        appServiceAuthentication: {
          type: 'apiKey',
          in: 'header',
          name: 'x-ms-client-principal',
          description:
            'Set by App Service Authentication (Entra ID): base64 JSON with role claims Exports.Admin or Exports.Contributor.',
        },
      },
      schemas,
    },
    paths,
  };
}
