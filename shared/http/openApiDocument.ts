import { z } from 'zod';
import { createConnectionSchema, updateConnectionSchema } from '../connections/connectionService.js';
import { createExportSchema, startRunSchema } from '../exports/exportService.js';

/**
 * The HTTP API described as OpenAPI 3.1. Request bodies come from the same zod schemas that
 * validate them; `npm run openapi` writes this to openapi.json, and a test keeps the two equal.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const body = (schema: z.ZodType) => ({ required: true, content: { 'application/json': { schema: z.toJSONSchema(schema, { io: 'input' }) } } });
const json = (description: string, schema: object, headers?: object) => ({ description, content: { 'application/json': { schema } }, ...(headers ? { headers } : {}) });
const error = (description: string) => json(description, ref('Error'));
const errors = {
  '400': error('The request is invalid: the message names the field'),
  '401': error('No caller (App Service Authentication principal)'),
  '403': error('The caller lacks the role'),
};
const location = { Location: { schema: { type: 'string' }, description: 'URL of the new resource' } };
const idParam = (name: string, what: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: what });
const security = [{ appServiceAuthentication: [] }];

const counts = {
  type: 'object',
  required: ['read', 'rejected', 'duplicate', 'unchanged', 'upserted', 'unsubscribed', 'failed'],
  properties: Object.fromEntries(['read', 'rejected', 'duplicate', 'unchanged', 'upserted', 'unsubscribed', 'failed'].map((k) => [k, { type: 'integer', minimum: 0 }])),
  description: 'At a terminal status, read = rejected + duplicate + unchanged + upserted + failed.',
};

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Segment export to ActiveCampaign',
      version: '1.0.0',
      description: 'Connections to ActiveCampaign accounts, exports of segments into ActiveCampaign lists, and their runs.',
    },
    servers: [{ url: '/api' }],
    components: {
      securitySchemes: {
        appServiceAuthentication: {
          type: 'apiKey',
          in: 'header',
          name: 'x-ms-client-principal',
          description: 'Set by App Service Authentication (Entra ID): base64 JSON with role claims Exports.Admin or Exports.Contributor.',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
            runId: { type: 'string', description: 'With 409 RunActive: the active run' },
          },
        },
        Connection: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'displayName', 'hostname', 'allowContributors', 'dataPrivacyConsent', 'createdAt', 'createdBy'],
          properties: {
            id: { type: 'string' },
            displayName: { type: 'string' },
            hostname: { type: 'string' },
            allowContributors: { type: 'boolean' },
            dataPrivacyConsent: { type: 'object', required: ['givenBy', 'givenAt'], properties: { givenBy: { type: 'string' }, givenAt: { type: 'string', format: 'date-time' } } },
            createdAt: { type: 'string', format: 'date-time' },
            createdBy: { type: 'string' },
          },
        },
        Export: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'displayName', 'connectionId', 'listId', 'source', 'mapping', 'mode', 'schedule', 'createdAt', 'createdBy'],
          properties: {
            id: { type: 'string' },
            displayName: { type: 'string' },
            connectionId: { type: 'string' },
            listId: { type: 'integer' },
            source: { type: 'object', required: ['container', 'path'], properties: { container: { type: 'string' }, path: { type: 'string' }, table: { type: 'string' } } },
            mapping: {
              type: 'object',
              required: ['email'],
              properties: {
                email: { type: 'string' }, firstName: { type: 'string' }, lastName: { type: 'string' }, phone: { type: 'string' },
                fields: { type: 'object', additionalProperties: { type: 'string' } },
              },
            },
            mode: { enum: ['upsert', 'mirror'] },
            schedule: { enum: ['refresh', 'manual'] },
            createdAt: { type: 'string', format: 'date-time' },
            createdBy: { type: 'string' },
          },
        },
        Run: {
          type: 'object',
          required: ['runId', 'exportId', 'trigger', 'status', 'counts', 'startedAt'],
          properties: {
            runId: { type: 'string' },
            exportId: { type: 'string' },
            trigger: { enum: ['manual', 'schedule'] },
            status: { enum: ['queued', 'planning', 'sending', 'completed', 'completedWithErrors', 'failed', 'cancelled'] },
            snapshot: {
              type: 'object',
              required: ['id', 'files'],
              properties: { id: { type: 'string' }, files: { type: 'array', items: { type: 'object', required: ['name', 'etag'], properties: { name: { type: 'string' }, etag: { type: 'string' } } } } },
            },
            counts,
            error: { type: 'string' },
            startedAt: { type: 'string', format: 'date-time' },
            finishedAt: { type: 'string', format: 'date-time' },
            rejectedRows: { type: 'string', description: 'container/name of the CSV of rejected rows (file, row, email, reason)' },
            payloadSample: { type: 'string', description: 'Dry runs: container/name of a sample of the payloads' },
            dryRun: { type: 'boolean' },
            fullSync: { type: 'boolean' },
            batches: { type: 'object', required: ['done'], properties: { total: { type: 'integer' }, done: { type: 'integer' } } },
          },
        },
        RunStarted: { type: 'object', required: ['runId', 'status'], properties: { runId: { type: 'string' }, status: { const: 'queued' } } },
      },
    },
    paths: {
      '/health': {
        get: { operationId: 'health', summary: 'Liveness', responses: { '200': json('The app is up', { type: 'object', properties: { status: { const: 'ok' } } }) } },
      },
      '/openapi.json': {
        get: { operationId: 'openApi', summary: 'This document', responses: { '200': json('The OpenAPI document', { type: 'object' }) } },
      },
      '/connections': {
        post: {
          operationId: 'createConnection', summary: 'Create a connection (admin)', security, requestBody: body(createConnectionSchema),
          responses: { '201': json('Created; the API key is never returned', ref('Connection'), location), ...errors },
        },
        get: {
          operationId: 'listConnections', summary: 'Connections the caller may use', security,
          responses: { '200': json('The connections', { type: 'object', required: ['value'], properties: { value: { type: 'array', items: ref('Connection') } } }), '401': errors['401'], '403': errors['403'] },
        },
      },
      '/connections/{id}': {
        parameters: [idParam('id', 'Connection id')],
        get: { operationId: 'getConnection', security, responses: { '200': json('The connection', ref('Connection')), '401': errors['401'], '403': errors['403'], '404': error('No such connection (or not visible to the caller)') } },
        patch: {
          operationId: 'updateConnection', summary: 'Replace the API key (checked first), rename, or change who may use it (admin)', security, requestBody: body(updateConnectionSchema),
          responses: { '200': json('Updated', ref('Connection')), ...errors, '404': error('No such connection') },
        },
        delete: {
          operationId: 'deleteConnection', summary: 'Delete a connection and its key (admin)', security,
          responses: { '204': { description: 'Deleted' }, '401': errors['401'], '403': errors['403'], '404': error('No such connection'), '409': error('An export uses the connection') },
        },
      },
      '/exports': {
        post: {
          operationId: 'createExport', summary: 'Create an export (admin, or contributor on a connection that allows it)', security, requestBody: body(createExportSchema),
          responses: { '201': json('Created', ref('Export'), location), ...errors },
        },
        get: {
          operationId: 'listExports', security,
          responses: { '200': json('The exports', { type: 'object', required: ['value'], properties: { value: { type: 'array', items: ref('Export') } } }), '401': errors['401'], '403': errors['403'] },
        },
      },
      '/exports/{id}': {
        parameters: [idParam('id', 'Export id')],
        get: { operationId: 'getExport', security, responses: { '200': json('The export', ref('Export')), '401': errors['401'], '403': errors['403'], '404': error('No such export') } },
        delete: {
          operationId: 'deleteExport', summary: 'Delete an export: stops its schedule and cancels an active run', security,
          responses: { '204': { description: 'Deleted' }, '401': errors['401'], '403': errors['403'], '404': error('No such export') },
        },
      },
      '/exports/{id}/runs': {
        parameters: [idParam('id', 'Export id')],
        post: {
          operationId: 'startRun', summary: 'Start a run on demand', security, requestBody: { ...body(startRunSchema), required: false },
          responses: {
            '202': json('Queued', ref('RunStarted'), location), ...errors, '404': error('No such export'),
            '409': error('A run of the export is active; runId names it'),
          },
        },
        get: {
          operationId: 'listRuns', summary: 'Runs of the export, newest first', security,
          responses: { '200': json('The runs', { type: 'object', required: ['value'], properties: { value: { type: 'array', items: ref('Run') } } }), '401': errors['401'], '403': errors['403'], '404': error('No such export') },
        },
      },
      '/exports/{id}/runs/{runId}': {
        parameters: [idParam('id', 'Export id'), idParam('runId', 'Run id')],
        get: { operationId: 'getRun', security, responses: { '200': json('The run', ref('Run')), '401': errors['401'], '403': errors['403'], '404': error('No such export or run') } },
      },
    },
  };
}
