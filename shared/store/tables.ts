import type { TableClient } from '@azure/data-tables';

/** Table names of the app's state (in AzureWebJobsStorage): one table a kind of record. */
export const TABLES = {
  connections: 'connections',
  exports: 'exports',
  runs: 'runs',
  batches: 'batches',
  /** One entity an export while a run holds it (one active run per export). */
  leases: 'runleases',
  /** Where each export's committed state blob is. */
  exportState: 'exportstate',
  rateBudget: 'ratebudget',
  /** Each export's pending look at its source after a blob event, and the last event. */
  snapshotChecks: 'snapshotchecks',
  /** Who did what (audit/auditLog.ts), newest first. */
  audit: 'audit',
  /** Endpoints that receive run webhooks; their signing secrets live in the secret store. */
  webhooks: 'webhooks',
  /** Erasures of a person (data-subject requests): who, when, what was done; never the email. */
  erasures: 'erasures',
} as const;

const created = new WeakSet<TableClient>();

/** Creates the table the first time this process uses it. */
export async function ensureTable(table: TableClient): Promise<TableClient> {
  if (!created.has(table)) {
    await table.createTable();
    created.add(table);
  }
  return table;
}

export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export const isNotFound = (error: unknown) => statusOf(error) === 404;
/** 409 on create, 412 on a conditional update: someone else wrote first. */
export const isConflict = (error: unknown) => statusOf(error) === 409 || statusOf(error) === 412;

/** An OData string literal (quotes doubled), for a filter on a key the app made. */
export const odataString = (value: string) => `'${value.replace(/'/g, "''")}'`;
