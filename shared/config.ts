import { z } from 'zod';
import { DEFAULT_BULK_IMPORTS_PER_MINUTE, DEFAULT_REQUESTS_PER_SECOND } from './activecampaign/limits.js';

/**
 * Every setting the app reads, with its default. The Bicep in infra/ writes exactly these
 * (test/infra.test.ts compares the two), so a setting is added here or nowhere.
 */
export const SETTING_NAMES = [
  'AzureWebJobsStorage',
  'SEGMENTS_STORAGE',
  'KEY_VAULT_URL',
  'REFRESH_SCHEDULE',
  'ACTIVECAMPAIGN_REQUESTS_PER_SECOND',
  'ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE',
  'ACTIVECAMPAIGN_INSECURE_HOSTS',
  'WEBHOOK_INSECURE_HOSTS',
  'IMPORT_POLL_INTERVAL_SECONDS',
  'ACTIVECAMPAIGN_TIMEOUT_SECONDS',
  'SEGMENTS_CONTAINERS',
  'SNAPSHOT_QUIET_SECONDS',
  'SNAPSHOT_MAX_ROWS',
  'PLANNER_EMAILS_PER_PASS',
  'RUN_RETENTION_DAYS',
] as const;

/** Settings of the Functions platform that the Bicep writes besides the app's own. */
export const PLATFORM_SETTINGS = [
  'FUNCTIONS_EXTENSION_VERSION',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  // The app's identity (user-assigned): the Azure SDK's DefaultAzureCredential reads it.
  'AZURE_CLIENT_ID',
] as const;

export const DEVELOPMENT_STORAGE = 'UseDevelopmentStorage=true';
export const DEFAULT_REFRESH_SCHEDULE = '0 */15 * * * *';
/** A folder's snapshot is taken once its files have not changed for this long. */
export const DEFAULT_SNAPSHOT_QUIET_SECONDS = 300;
/** A snapshot with more rows fails its run before anything is sent (planning memory is sized for it). */
export const DEFAULT_SNAPSHOT_MAX_ROWS = 10_000_000;
/**
 * Emails the planner holds in memory at once (about 19 bytes each: 75 MB); a snapshot and previous
 * state with more are read in several passes (sync/planPasses.ts).
 */
export const DEFAULT_PLANNER_EMAILS_PER_PASS = 4_000_000;
export const DEFAULT_RUN_RETENTION_DAYS = 30;

export interface StorageSetting {
  /** A connection string, or undefined when the service URIs and a managed identity are used. */
  connectionString?: string;
  blobServiceUrl?: string;
  queueServiceUrl?: string;
  tableServiceUrl?: string;
}

export interface AppConfig {
  storage: StorageSetting;
  segmentsStorage: StorageSetting;
  keyVaultUrl?: string;
  refreshSchedule: string;
  requestsPerSecond: number;
  bulkImportsPerMinute: number;
  insecureHosts: string[];
  /** Loopback `host:port` pairs run webhooks may be sent to over plain http (a receiver on this machine). */
  webhookInsecureHosts: string[];
  /** The console's address (`https://<WEBSITE_HOSTNAME>`; http on this machine), for links in webhooks. */
  consoleUrl?: string;
  /** App Service sets WEBSITE_INSTANCE_ID on every instance it runs. */
  runningInAzure: boolean;
  /** How long the import checker waits between polls of an import. */
  importPollIntervalInMs: number;
  /** Where the local development secret store keeps API keys when KEY_VAULT_URL is unset. */
  localSecretsDir: string;
  /** Application Insights (set by the platform in Azure); unset locally: telemetry goes to the log. */
  appInsightsConnectionString?: string;
  /** How long one ActiveCampaign request may take. */
  activeCampaignTimeoutInMs: number;
  /** Containers exports may read (undefined: any but the app's own and the Functions host's). */
  segmentsContainers?: string[];
  snapshotQuietPeriodInMs: number;
  snapshotMaxRows: number;
  plannerEmailsPerPass: number;
  runRetentionDays: number;
}

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

const positiveNumber = (name: string, fallback: number, allowZero = false) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got "${v}"`,
        });
        return z.NEVER;
      }
      return n;
    });

function readStorage(env: NodeJS.ProcessEnv, prefix: string): StorageSetting | undefined {
  const value = env[prefix]?.trim();
  if (value) {
    if (/^https?:\/\//i.test(value)) return { blobServiceUrl: value.replace(/\/+$/, '') };
    return { connectionString: value };
  }
  // Identity-based connection (Azure Functions' `<name>__blobServiceUri` convention).
  const blob = env[`${prefix}__blobServiceUri`]?.trim();
  const queue = env[`${prefix}__queueServiceUri`]?.trim();
  const table = env[`${prefix}__tableServiceUri`]?.trim();
  if (blob || queue || table) return { blobServiceUrl: blob, queueServiceUrl: queue, tableServiceUrl: table };
  return undefined;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const numbers = z
    .object({
      // 0 turns the app's own budget off (an emulator without limits); ActiveCampaign keeps its limits regardless.
      ACTIVECAMPAIGN_REQUESTS_PER_SECOND: positiveNumber(
        'ACTIVECAMPAIGN_REQUESTS_PER_SECOND',
        DEFAULT_REQUESTS_PER_SECOND,
        true,
      ),
      ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: positiveNumber(
        'ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE',
        DEFAULT_BULK_IMPORTS_PER_MINUTE,
        true,
      ),
      IMPORT_POLL_INTERVAL_SECONDS: positiveNumber('IMPORT_POLL_INTERVAL_SECONDS', 5),
      ACTIVECAMPAIGN_TIMEOUT_SECONDS: positiveNumber('ACTIVECAMPAIGN_TIMEOUT_SECONDS', 30),
      SNAPSHOT_QUIET_SECONDS: positiveNumber('SNAPSHOT_QUIET_SECONDS', DEFAULT_SNAPSHOT_QUIET_SECONDS, true),
      SNAPSHOT_MAX_ROWS: positiveNumber('SNAPSHOT_MAX_ROWS', DEFAULT_SNAPSHOT_MAX_ROWS),
      PLANNER_EMAILS_PER_PASS: positiveNumber('PLANNER_EMAILS_PER_PASS', DEFAULT_PLANNER_EMAILS_PER_PASS),
      RUN_RETENTION_DAYS: positiveNumber('RUN_RETENTION_DAYS', DEFAULT_RUN_RETENTION_DAYS),
    })
    .safeParse(env);
  if (!numbers.success) throw new ConfigurationError(numbers.error.issues.map((i) => i.message).join('; '));

  const storage = readStorage(env, 'AzureWebJobsStorage') ?? { connectionString: DEVELOPMENT_STORAGE };
  const segmentsStorage = readStorage(env, 'SEGMENTS_STORAGE') ?? storage;
  const keyVaultUrl = env.KEY_VAULT_URL?.trim() || undefined;
  if (keyVaultUrl && !/^https?:\/\/[^/]+/i.test(keyVaultUrl)) {
    throw new ConfigurationError(
      `KEY_VAULT_URL must be a URL such as https://myvault.vault.azure.net, got "${keyVaultUrl}"`,
    );
  }
  const insecureHosts = loopbackHostPorts(env, 'ACTIVECAMPAIGN_INSECURE_HOSTS', '(emulators)');
  const webhookInsecureHosts = loopbackHostPorts(env, 'WEBHOOK_INSECURE_HOSTS', '(a receiver on this machine)');
  const siteHost = env.WEBSITE_HOSTNAME?.trim().toLowerCase();
  const consoleUrl = siteHost
    ? `${/^(localhost|127\.|\[::1\])/.test(siteHost) ? 'http' : 'https'}://${siteHost}`
    : undefined;
  const containers = env.SEGMENTS_CONTAINERS?.trim()
    ? env.SEGMENTS_CONTAINERS.split(',')
        .map((c) => c.trim())
        .filter(Boolean)
    : undefined;
  for (const c of containers ?? []) {
    if (!/^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/.test(c))
      throw new ConfigurationError(`SEGMENTS_CONTAINERS: "${c}" is not a valid container name`);
  }
  return {
    storage,
    segmentsStorage,
    keyVaultUrl,
    refreshSchedule: env.REFRESH_SCHEDULE?.trim() || DEFAULT_REFRESH_SCHEDULE,
    requestsPerSecond: numbers.data.ACTIVECAMPAIGN_REQUESTS_PER_SECOND,
    bulkImportsPerMinute: numbers.data.ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE,
    insecureHosts,
    webhookInsecureHosts,
    consoleUrl,
    importPollIntervalInMs: numbers.data.IMPORT_POLL_INTERVAL_SECONDS * 1000,
    runningInAzure: Boolean(env.WEBSITE_INSTANCE_ID),
    localSecretsDir: env.LOCAL_SECRETS_DIR?.trim() || '.local/secrets',
    appInsightsConnectionString: env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim() || undefined,
    activeCampaignTimeoutInMs: numbers.data.ACTIVECAMPAIGN_TIMEOUT_SECONDS * 1000,
    segmentsContainers: containers,
    snapshotQuietPeriodInMs: numbers.data.SNAPSHOT_QUIET_SECONDS * 1000,
    snapshotMaxRows: Math.floor(numbers.data.SNAPSHOT_MAX_ROWS),
    plannerEmailsPerPass: Math.max(1, Math.floor(numbers.data.PLANNER_EMAILS_PER_PASS)),
    runRetentionDays: numbers.data.RUN_RETENTION_DAYS,
  };
}

/** A setting of loopback `host:port` pairs, the only places the app may call over plain http. */
function loopbackHostPorts(env: NodeJS.ProcessEnv, name: string, what: string): string[] {
  const hosts = (env[name] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const host of hosts) {
    if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/.test(host))
      throw new ConfigurationError(`${name} may only name loopback host:port pairs ${what}, got "${host}"`);
  }
  return hosts;
}

let cached: AppConfig | undefined;

/** The process's settings, read and validated once. */
export function config(): AppConfig {
  cached ??= readConfig();
  return cached;
}

/** Tests and the local runner change the environment between apps in one process. */
export function resetConfig(): void {
  cached = undefined;
}
