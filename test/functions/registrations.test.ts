import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { poisonQueue, QUEUES, SEGMENT_QUEUES } from '../../shared/runs/runQueues.js';
import { WEBHOOK_QUEUE } from '../../shared/webhooks/webhookModel.js';
import { ROOT } from '../support/harness.js';
import { timeSpanInMs } from '../../tools/localRunner/hostSettings.js';

interface Binding {
  type: string;
  direction: string;
  route?: string;
  methods?: string[];
  queueName?: string;
  schedule?: string;
  connection?: string;
}

/** The registrations the host would receive, read through the local runner's functions-core. */
function registrations(env: Record<string, string> = {}): { name: string; bindings: Record<string, Binding> }[] {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/localRunner/main.ts'), '--list'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.slice(out.indexOf('[')));
}

describe('function registrations', () => {
  const regs = registrations({ REFRESH_SCHEDULE: '0 5 * * * *' });
  const triggers = regs.map((r) => ({
    name: r.name,
    trigger: Object.values(r.bindings).find((b) => b.direction === 'in')!,
  }));

  it('registers every function once, each with one trigger', () => {
    expect(regs.map((r) => r.name).sort()).toEqual(
      [
        'checkImport',
        'checkSnapshot',
        'onSegmentEvent',
        'createConnection',
        'handlePoisonedBatch',
        'handlePoisonedPlan',
        'handlePoisonedImportCheck',
        'handlePoisonedWatch',
        'createExport',
        'deleteConnection',
        'deleteExport',
        'getConnection',
        'getExport',
        'getRun',
        'health',
        'listConnections',
        'openApi',
        'listExports',
        'listRuns',
        'planRun',
        'refreshTimer',
        'sendBatch',
        'startRun',
        'updateConnection',
        'watchRun',
        'updateExport',
        'cancelRun',
        'getRejectedRows',
        'getPayloadSample',
        'listConnectionLists',
        'listConnectionFields',
        'previewSource',
        'me',
        'console',
        'checkConnection',
        'listAudit',
        'createWebhook',
        'listWebhooks',
        'deleteWebhook',
        'testWebhook',
        'deliverWebhook',
        'getRunChanges',
        'createConnectionList',
        'createErasure',
        'listErasures',
      ].sort(),
    );
    for (const r of regs) expect(Object.values(r.bindings).filter((b) => /trigger$/i.test(b.type))).toHaveLength(1);
  });

  it('serves the contract routes, each route and method once', () => {
    const routes = triggers
      .filter((t) => t.trigger.type === 'httpTrigger')
      .flatMap((t) => t.trigger.methods!.map((m) => `${m} ${t.trigger.route}`));
    expect(new Set(routes).size).toBe(routes.length);
    // host.json's routePrefix is "": the API's routes carry api/ themselves, and the console takes the rest.
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST api/connections',
        'GET api/connections',
        'GET api/connections/{id}',
        'DELETE api/connections/{id}',
        'POST api/exports',
        'GET api/exports',
        'GET api/exports/{id}',
        'DELETE api/exports/{id}',
        'POST api/exports/{id}/runs',
        'GET api/exports/{id}/runs',
        'GET api/exports/{id}/runs/{runId}',
        'GET api/health',
        'PATCH api/exports/{id}',
        'POST api/exports/{id}/runs/{runId}/cancel',
        'GET api/exports/{id}/runs/{runId}/rejected',
        'GET api/connections/{id}/lists',
        'GET api/connections/{id}/fields',
        'POST api/sources/preview',
        'GET api/me',
        'GET api/exports/{id}/runs/{runId}/changes',
        'GET api/audit',
        'POST api/connections/{id}/lists',
        'POST api/erasures',
        'GET api/erasures',
        'POST api/webhooks',
        'GET api/webhooks',
        'DELETE api/webhooks/{id}',
        'POST api/webhooks/{id}/test',
        'GET {*path}',
      ]),
    );
    for (const r of routes.filter((r) => r !== 'GET {*path}')) expect(r).toMatch(/^[A-Z]+ api\//);
  });

  it('binds the queue functions to the queues the code sends to, and every run engine queue has a poison handler', () => {
    const queues = triggers.filter((t) => t.trigger.type === 'queueTrigger');
    const names = Object.values(QUEUES);
    // Blob events and snapshot checks are hints (the scheduled refresh finds what they miss), and a
    // webhook delivery records its own failures: no poison handler.
    expect(queues.map((q) => q.trigger.queueName).sort()).toEqual(
      [...names, ...names.map(poisonQueue), ...Object.values(SEGMENT_QUEUES), WEBHOOK_QUEUE].sort(),
    );
    for (const q of queues) expect(q.trigger.connection).toBe('AzureWebJobsStorage');
  });

  it('schedules the refresh timer from REFRESH_SCHEDULE', () => {
    expect(triggers.find((t) => t.name === 'refreshTimer')?.trigger.schedule).toBe('0 5 * * * *');
  });

  it('lets a plan of the largest snapshot finish before the host stops it', () => {
    // A plan the host stops is delivered again and starts over, so a timeout below the planning time
    // of SNAPSHOT_MAX_ROWS would fail every such run. 10 million rows planned in three passes took
    // 26 minutes on two busy cores (npm run bench:planner); Flex Consumption allows any timeout.
    const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8')) as { functionTimeout: string };
    expect(timeSpanInMs(host.functionTimeout, 0)).toBeGreaterThanOrEqual(2 * 60 * 60 * 1000);
  });

  it('declares no output bindings the host could silently drop (queues are written through the SDK)', () => {
    for (const r of regs) {
      const outs = Object.entries(r.bindings).filter(([, b]) => b.direction === 'out');
      for (const [name, b] of outs) {
        expect(name).toBe('$return');
        expect(b.type).toBe('http');
      }
    }
  });
});
