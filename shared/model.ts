/** The app's records, as the HTTP API shows them (without secrets). */

export interface Connection {
  id: string;
  displayName: string;
  hostname: string;
  allowContributors: boolean;
  dataPrivacyConsent: { givenBy: string; givenAt: string };
  createdAt: string;
  createdBy: string;
}

export interface SegmentSource {
  container: string;
  path: string;
  table?: string;
}

export interface DataMapping {
  email: string;
  firstName?: string;
  lastName?: string;
  phone?: string;
  /** ActiveCampaign custom field id → source column. */
  fields?: Record<string, string>;
}

export type SyncMode = 'upsert' | 'mirror';
export type ScheduleKind = 'refresh' | 'manual';

export interface Export {
  id: string;
  displayName: string;
  connectionId: string;
  listId: number;
  source: SegmentSource;
  mapping: DataMapping;
  mode: SyncMode;
  schedule: ScheduleKind;
  createdAt: string;
  createdBy: string;
}

export type RunStatus = 'queued' | 'planning' | 'sending' | 'completed' | 'completedWithErrors' | 'failed' | 'cancelled';
export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['completed', 'completedWithErrors', 'failed', 'cancelled']);

export interface RunCounts {
  read: number;
  rejected: number;
  duplicate: number;
  unchanged: number;
  upserted: number;
  unsubscribed: number;
  failed: number;
}

export const emptyCounts = (): RunCounts => ({ read: 0, rejected: 0, duplicate: 0, unchanged: 0, upserted: 0, unsubscribed: 0, failed: 0 });

export interface SnapshotRef {
  id: string;
  files: { name: string; etag: string }[];
}

export interface Run {
  runId: string;
  exportId: string;
  trigger: 'manual' | 'schedule';
  status: RunStatus;
  snapshot?: SnapshotRef;
  counts: RunCounts;
  error?: string;
  startedAt: string;
  finishedAt?: string;
  /** Blob (in the run-files container) listing the rejected rows, once the run has any. */
  rejectedRows?: string;
  dryRun: boolean;
  fullSync: boolean;
  /** Dry runs: a sample of the payloads the run would send (`container/name`). */
  payloadSample?: string;
  batches: { total?: number; done: number };
  /** When the run watcher last looked at the run's batches. */
  lastProgressAt?: string;
}
