import type { TokenCredential } from '@azure/core-auth';
import { SecretClient } from '@azure/keyvault-secrets';
import { DefaultAzureCredential } from '@azure/identity';
import { config, type AppConfig } from './config.js';
import { ActiveCampaignClient } from './activecampaign/client.js';
import type { LookupFunction } from './http/publicAddress.js';
import { RateBudget } from './activecampaign/rateBudget.js';
import type { Connection } from './model.js';
import { apiKeySecretName, KeyVaultSecretStore, LocalSecretStore, type SecretStore } from './secrets/secretStore.js';
import { ConnectionStore } from './store/connectionStore.js';
import { AuditStore } from './store/auditStore.js';
import { WebhookStore } from './store/webhookStore.js';
import { ErasureStore } from './store/erasureStore.js';
import { announceRunEvent } from './webhooks/webhookDelivery.js';
import type { RunEventsPort } from './runs/ports.js';
import { ExportStateStore } from './store/exportStateStore.js';
import { ExportStore } from './store/exportStore.js';
import { TableReservationStore } from './store/rateBudgetStore.js';
import { RunFiles } from './store/runFiles.js';
import { SnapshotCheckStore } from './store/snapshotCheckStore.js';
import { RunStore } from './store/runStore.js';
import { StorageQueues } from './store/storageQueues.js';
import { storageClients, type StorageClients } from './store/storageClients.js';
import { TABLES } from './store/tables.js';
import { applicationInsightsTelemetry, LogTelemetry, type Telemetry } from './telemetry.js';

/**
 * Everything the functions share, built once per process from the settings. Each worker and
 * service declares the few members it uses (a Pick of this), so that its dependencies are visible.
 */
export interface AppServices {
  config: AppConfig;
  storage: StorageClients;
  segments: StorageClients;
  queues: StorageQueues;
  connections: ConnectionStore;
  exports: ExportStore;
  runs: RunStore;
  runFiles: RunFiles;
  exportState: ExportStateStore;
  snapshotChecks: SnapshotCheckStore;
  audit: AuditStore;
  webhooks: WebhookStore;
  erasures: ErasureStore;
  runEvents: RunEventsPort;
  secrets: SecretStore;
  /** How names of ActiveCampaign accounts and webhook endpoints are resolved (tests: a fake answering loopback). */
  dnsLookup?: LookupFunction;
  rateBudget: RateBudget;
  telemetry: Telemetry;
  /** A client for a connection, with its key from the secret store and the shared budget. */
  activeCampaign(connection: Pick<Connection, 'id' | 'hostname'>, apiKey?: string): Promise<ActiveCampaignClient>;
}

export interface ServiceOverrides {
  /** Tests inject a fake; otherwise one is only built when Azure settings ask for it. */
  credential?: TokenCredential;
  secretClient?: SecretClient;
  log?: (message: string) => void;
  telemetry?: Telemetry;
  /** How ActiveCampaign hostnames are resolved (tests resolve names to loopback with a fake). */
  dnsLookup?: LookupFunction;
}

export class MissingApiKeyError extends Error {
  override readonly name = 'MissingApiKeyError';
}

export function createServices(cfg: AppConfig, overrides: ServiceOverrides = {}): AppServices {
  let credential = overrides.credential;
  // DefaultAzureCredential probes the managed-identity endpoint: never build it unless needed.
  const getCredential = () => (credential ??= new DefaultAzureCredential());
  const storage = storageClients(cfg.storage, getCredential);
  const segments = cfg.segmentsStorage === cfg.storage ? storage : storageClients(cfg.segmentsStorage, getCredential);
  const secrets: SecretStore = cfg.keyVaultUrl
    ? new KeyVaultSecretStore(overrides.secretClient ?? new SecretClient(cfg.keyVaultUrl, getCredential()))
    : new LocalSecretStore(cfg.localSecretsDir, cfg.runningInAzure);
  const rateBudget = new RateBudget(new TableReservationStore(storage.table(TABLES.rateBudget)), {
    requestsPerSecond: cfg.requestsPerSecond,
    bulkImportsPerMinute: cfg.bulkImportsPerMinute,
  });
  const runFiles = new RunFiles(storage.blobs);
  const telemetry =
    overrides.telemetry ??
    (cfg.appInsightsConnectionString
      ? deferredTelemetry(applicationInsightsTelemetry(cfg.appInsightsConnectionString, getCredential()), overrides.log)
      : new LogTelemetry(overrides.log ?? ((line) => console.log(line))));
  const services: AppServices = {
    telemetry,
    config: cfg,
    storage,
    segments,
    queues: new StorageQueues(storage.queues),
    connections: new ConnectionStore(storage.table(TABLES.connections)),
    exports: new ExportStore(storage.table(TABLES.exports)),
    runs: new RunStore(storage.table(TABLES.runs), storage.table(TABLES.batches), storage.table(TABLES.leases)),
    runFiles,
    exportState: new ExportStateStore(storage.table(TABLES.exportState), runFiles),
    snapshotChecks: new SnapshotCheckStore(storage.table(TABLES.snapshotChecks)),
    audit: new AuditStore(storage.table(TABLES.audit)),
    webhooks: new WebhookStore(storage.table(TABLES.webhooks)),
    erasures: new ErasureStore(storage.table(TABLES.erasures)),
    runEvents: { announce: (type, run) => announceRunEvent({ ...services, log: overrides.log }, type, run) },
    secrets,
    dnsLookup: overrides.dnsLookup,
    rateBudget,
    async activeCampaign(connection, apiKey) {
      const key = apiKey ?? (await secrets.get(apiKeySecretName(connection.id)));
      if (!key)
        throw new MissingApiKeyError(`The API key of connection ${connection.id} is missing from the secret store`);
      return new ActiveCampaignClient(connection.hostname, key, {
        insecureHosts: cfg.insecureHosts,
        timeoutInMs: cfg.activeCampaignTimeoutInMs,
        budget:
          cfg.requestsPerSecond > 0 && cfg.bulkImportsPerMinute > 0
            ? rateBudget.forAccount(connection.hostname)
            : undefined,
        log: overrides.log,
        lookup: overrides.dnsLookup,
      });
    },
  };
  return services;
}

/** Telemetry whose client is still loading: calls wait for it (and fall back to the log if it fails). */
function deferredTelemetry(loading: Promise<Telemetry>, log?: (m: string) => void): Telemetry {
  let target: Telemetry | undefined;
  const waiting: ((t: Telemetry) => void)[] = [];
  void loading
    .catch((error) => {
      log?.(`Application Insights is unavailable (${(error as Error).message}); telemetry goes to the log`);
      return new LogTelemetry(log);
    })
    .then((t) => {
      target = t;
      for (const call of waiting.splice(0)) call(t);
    });
  const via = (call: (t: Telemetry) => void) => (target ? call(target) : void waiting.push(call));
  return {
    event: (name, properties, measurements) => via((t) => t.event(name, properties, measurements)),
    metric: (name, value, properties) => via((t) => t.metric(name, value, properties)),
  };
}

let current: AppServices | undefined;

/** The process's services (built on first use from `config()`). */
export function services(): AppServices {
  current ??= createServices(config());
  return current;
}

/** Tests replace the services of the process (or reset them to be built again). */
export function setServices(value: AppServices | undefined): void {
  current = value;
}
