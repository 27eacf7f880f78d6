import type { TokenCredential } from '@azure/core-auth';

/**
 * Names of what the app reports to Application Insights. The workbook and the alert rules in
 * infra/ query exactly these (test/infra.test.ts checks it).
 */
export const TELEMETRY = {
  events: {
    /** Every run that ends: export, trigger, status, counts and duration. */
    runFinished: 'ExportRunFinished',
    /** A message the host gave up on, now recorded as a failure. */
    poisonMessage: 'ExportPoisonMessage',
    /** Who changed a connection, an export or a webhook, or started, cancelled or confirmed a run. */
    audit: 'ExportAudit',
    /** A run webhook that could not be delivered after its last try. */
    webhookFailed: 'ExportWebhookFailed',
  },
  metrics: {
    contactsSent: 'ExportContactsSent',
    rateLimitWaits: 'ExportRateLimitWaits',
    batchRetries: 'ExportBatchRetries',
    failedContacts: 'ExportFailedContacts',
  },
} as const;

export type Properties = Record<string, string | number | boolean | undefined>;

export interface Telemetry {
  event(name: string, properties: Properties, measurements?: Record<string, number>): void;
  metric(name: string, value: number, properties?: Properties): void;
}

/** Telemetry as structured log lines (local runs and tests; in Azure they land in `traces` too). */
export class LogTelemetry implements Telemetry {
  readonly lines: string[] = [];
  constructor(readonly write: (line: string) => void = () => {}) {}

  event(name: string, properties: Properties, measurements?: Record<string, number>): void {
    this.#emit({ event: name, properties, measurements });
  }

  metric(name: string, value: number, properties?: Properties): void {
    this.#emit({ metric: name, value, properties });
  }

  #emit(record: object): void {
    const line = `telemetry ${JSON.stringify(record)}`;
    if (this.lines.length < 10_000) this.lines.push(line);
    this.write(line);
  }
}

/**
 * Application Insights through the `applicationinsights` SDK, authenticated with the app's managed
 * identity (the resource has local authentication off). Loaded only when a connection string is
 * configured, so local runs and tests never load it.
 */
export async function applicationInsightsTelemetry(
  connectionString: string,
  credential: TokenCredential,
): Promise<Telemetry> {
  const { TelemetryClient } = await import('applicationinsights');
  const client = new TelemetryClient(connectionString, { useGlobalProviders: false });
  client.config.aadTokenCredential = credential;
  client.initialize();
  const clean = (p: Properties = {}) =>
    Object.fromEntries(
      Object.entries(p)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, String(v)]),
    );
  return {
    event: (name, properties, measurements) => client.trackEvent({ name, properties: clean(properties), measurements }),
    metric: (name, value, properties) => client.trackMetric({ name, value, properties: clean(properties) }),
  };
}

/** Prefixes each line with the run it belongs to, so every log line of a run can be found by its id. */
export function runLog(log: (m: string) => void, ids: { runId?: string; exportId?: string }): (m: string) => void {
  const prefix = `[run ${ids.runId ?? '-'} export ${ids.exportId ?? '-'}]`;
  return (m) => log(`${prefix} ${m}`);
}
