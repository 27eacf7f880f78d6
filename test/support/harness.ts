import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { ADMIN_ROLE, principalHeader } from '../../shared/auth/principal.js';
import { readConfig } from '../../shared/config.js';
import { createServices, type AppServices } from '../../shared/services.js';
import { createConnection } from '../../shared/connections/connectionService.js';
import { emptyCounts, TERMINAL_STATUSES, type Export, type Run, type RunCounts } from '../../shared/model.js';
import { startRun, type StartRunOptions } from '../../shared/runs/runLifecycle.js';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
import {
  startActiveCampaignEmulator,
  type ActiveCampaignEmulator,
  type EmulatorOptions,
} from '../../tools/acEmulator/server.js';
import { startAzurite, type AzuriteInstance } from '../../tools/azurite.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** The app's environment for one test: its Azurite, its emulator, its secrets folder. */
export function appEnv(
  azurite: AzuriteInstance,
  emulator: ActiveCampaignEmulator,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AzureWebJobsStorage: azurite.connectionString,
    ACTIVECAMPAIGN_INSECURE_HOSTS: emulator.hostname,
    ACTIVECAMPAIGN_REQUESTS_PER_SECOND: String(emulator.options.requestsPerSecond || 1000),
    ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: String(emulator.options.bulkImportsPerMinute || 100_000),
    IMPORT_POLL_INTERVAL_SECONDS: '1',
    LOCAL_SECRETS_DIR: mkdtempSync(join(tmpdir(), 'secrets-')),
    REFRESH_SCHEDULE: '0 0 0 1 1 *',
    // Tests write a segment and run it at once; the quiet period is tested on its own.
    SNAPSHOT_QUIET_SECONDS: '0',
    ...extra,
  };
}

export interface Harness {
  azurite: AzuriteInstance;
  emulator: ActiveCampaignEmulator;
  env: Record<string, string>;
  svc: AppServices;
  blobs: BlobServiceClient;
  stop(): Promise<void>;
}

/** Azurite, the emulator and in-process services over them. */
export async function startHarness(
  emulatorOptions: EmulatorOptions = {},
  extraEnv: Record<string, string> = {},
): Promise<Harness> {
  const azurite = await startAzurite();
  const emulator = await startActiveCampaignEmulator({ importPhaseInMs: 50, ...emulatorOptions });
  const env = appEnv(azurite, emulator, extraEnv);
  const svc = createServices(readConfig(env));
  return {
    azurite,
    emulator,
    env,
    svc,
    blobs: BlobServiceClient.fromConnectionString(azurite.connectionString),
    async stop() {
      await emulator.close();
      await azurite.stop();
    },
  };
}

export { startRunnerProcess, type RunnerProcess } from '../../tools/localRunner/runnerProcess.js';

export const adminHeader = principalHeader('admin@example.com', [ADMIN_ROLE]);

/**
 * A JSON call to the app's HTTP API; `principal` null sends no caller at all. A body that is not JSON comes back as
 * text.
 */
export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  principal: string | null = adminHeader,
) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (principal) headers['x-ms-client-principal'] = principal;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const isJson = (res.headers.get('content-type') ?? '').includes('json');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const parsed: any = text ? (isJson ? JSON.parse(text) : text) : undefined;
  return { status: res.status, headers: res.headers, body: parsed };
}

export async function uploadText(
  blobs: BlobServiceClient,
  container: string,
  name: string,
  content: string | Buffer,
): Promise<void> {
  const c = blobs.getContainerClient(container);
  await c.createIfNotExists();
  await c.getBlockBlobClient(name).upload(content, Buffer.byteLength(content));
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutInMs = 60_000,
  intervalInMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalInMs));
  }
}

/** The caller of service-level calls in tests. */
export const adminCaller = { name: 'admin@example.com', roles: ['admin' as const] };

/** A connection to the harness's emulator; returns its id. */
export async function connectToEmulator(h: Harness): Promise<string> {
  const connection = await createConnection(h.svc, adminCaller, {
    displayName: 'emulator',
    hostname: h.emulator.hostname,
    apiKey: EMULATOR_API_KEY,
    dataPrivacyConsent: true,
  });
  return connection.id;
}

/**
 * Starts a run of the export (on the queues, where a runner process picks it up) and waits for its
 * end: a terminal status and finishedAt (set once nothing more can be sent).
 */
export async function runToEnd(
  h: Harness,
  exp: Export,
  options: Partial<StartRunOptions> = {},
  timeoutInMs = 60_000,
): Promise<Run> {
  const started = await startRun(h.svc, exp, { trigger: 'manual', ...options });
  return waitFor(
    `run ${started.runId}`,
    async () => {
      const r = await h.svc.runs.getRun(exp.id, started.runId);
      return r && TERMINAL_STATUSES.has(r.status) && r.finishedAt ? r : undefined;
    },
    timeoutInMs,
    200,
  );
}

/** A run's counts: the ones given, every other count 0. */
export const counts = (given: Partial<RunCounts>): RunCounts => ({ ...emptyCounts(), ...given });
