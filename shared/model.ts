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
  /** A column whose value holds tags (a JSON array, or values separated by `;`). */
  tags?: string;
  /**
   * A stable identity column (Customer Insights' CustomerId): a profile whose email changed is the
   * same contact, whose email is changed in ActiveCampaign instead of a second contact being made.
   */
  identity?: string;
  /**
   * What an empty source value does, per mapped field (`firstName`, `lastName`, `phone` or a custom
   * field id): `keep` (default) leaves ActiveCampaign's value alone, `clear` empties it.
   */
  emptyValues?: Record<string, 'keep' | 'clear'>;
}

/** A mapped custom field as ActiveCampaign describes it, kept with the export to convert values. */
export interface FieldDefinition {
  id: string;
  title: string;
  /** ActiveCampaign's field type: text, textarea, date, datetime, dropdown, radio, checkbox, listbox, hidden, … */
  type: string;
  /** The allowed values of dropdown, radio, checkbox and listbox fields. */
  options?: string[];
}

export type SyncMode = 'upsert' | 'mirror' | 'updateOnly';
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
  /** Tags added to every contact the export sends (ActiveCampaign's importer adds tags, never removes them). */
  tags: string[];
  /** false: contacts are sent with `exclude_automations` (no automation fires for a bulk load). */
  runAutomations: boolean;
  /** Contacts who leave the segment lose the export's `tags` (removed one by one through contactTags). */
  removeTagsWhenLeaving: boolean;
  /**
   * Mirror mode: a run that would unsubscribe more than this share (in %) of the contacts the export
   * last sent stops before sending anything, unless an on-demand run confirms the removals.
   */
  removalGuardPercent: number;
  /** The mapped custom fields' types and options, read from ActiveCampaign when the export was saved. */
  fieldTypes: Record<string, FieldDefinition>;
  createdAt: string;
  createdBy: string;
  updatedAt?: string;
  updatedBy?: string;
}

export type RunStatus =
  'queued' | 'planning' | 'sending' | 'completed' | 'completedWithErrors' | 'failed' | 'cancelled';
export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set([
  'completed',
  'completedWithErrors',
  'failed',
  'cancelled',
]);

/**
 * A run's counts. At a terminal status every row read is accounted for once:
 * read = rejected + duplicate + unchanged + upserted + failed + unknown + notSent + notInActiveCampaign + wouldUpsert.
 * - failed: ActiveCampaign refused or could not process the contact (or the app gave up on it);
 * - unknown: sent, but whether it arrived is not known (answers lost; the next run sends it again);
 * - notSent: planned, never sent because the run ended first (cancelled, or failed as a whole);
 * - emailChanged: mapping.identity; contacts whose email was changed in ActiveCampaign (the same
 *   contact under its new email), also counted in upserted once their import took effect;
 * - notInActiveCampaign: update-only mode; no contact with the email exists in ActiveCampaign, so
 *   none was created (the next run looks again);
 * - wouldUpsert, wouldUnsubscribe: a dry run's "would send" (a dry run sends nothing).
 * `unsubscribed`, `untagged` (lost the export's tags: removeTagsWhenLeaving) and `wouldUnsubscribe`
 * count contacts that left the segment: not rows read.
 */
export const COUNT_NAMES = [
  'read',
  'rejected',
  'duplicate',
  'unchanged',
  'upserted',
  'unsubscribed',
  'failed',
  'unknown',
  'notSent',
  'notInActiveCampaign',
  'emailChanged',
  'untagged',
  'wouldUpsert',
  'wouldUnsubscribe',
] as const;
export type CountName = (typeof COUNT_NAMES)[number];
export type RunCounts = Record<CountName, number>;

export const emptyCounts = (): RunCounts => Object.fromEntries(COUNT_NAMES.map((k) => [k, 0])) as RunCounts;

/** The rows a run's counts account for (the right-hand side of the sum rule). */
export const accountedRows = (c: RunCounts) =>
  c.rejected +
  c.duplicate +
  c.unchanged +
  c.upserted +
  c.failed +
  c.unknown +
  c.notSent +
  c.notInActiveCampaign +
  c.wouldUpsert;

export interface SnapshotRef {
  id: string;
  files: { name: string; etag: string }[];
}

/** Why contacts were rejected or failed, commonest first (the details are in the rejected rows). */
export interface RunReason {
  kind: 'rejected' | 'failed';
  reason: string;
  count: number;
}

/**
 * What an administrator confirmed: the removals a run stopped at the guard showed. A run started
 * with it unsubscribes only if its own snapshot and numbers are exactly these.
 */
export interface RemovalConfirmation {
  /** The run the guard stopped. */
  runId: string;
  snapshotId: string;
  unsubscribes: number;
  lastSent: number;
}

/** Mirror mode's removal guard, as a run (or a dry run) measured it. */
export interface RemovalCheck {
  /** Contacts the run would unsubscribe. */
  unsubscribes: number;
  /** Contacts the export's last successful run left subscribed (its committed state). */
  lastSent: number;
  /** The export's removalGuardPercent, and the most unsubscribes it allows without confirmation. */
  limitPercent: number;
  allowed: number;
  exceeded: boolean;
  confirmed: boolean;
}

export interface Run {
  runId: string;
  exportId: string;
  trigger: 'manual' | 'schedule';
  status: RunStatus;
  snapshot?: SnapshotRef;
  counts: RunCounts;
  error?: string;
  /** What a person should know although the run went on (a person erased on request is back in the segment). */
  warnings?: string[];
  reasons?: RunReason[];
  startedAt: string;
  /**
   * Set once nothing more can be sent for the run: a moment after the status turns terminal when posts were in flight.
   */
  finishedAt?: string;
  /** Blob (in the run-files container) listing the rejected rows, once the run has any. */
  rejectedRows?: string;
  /** Blob listing the emails the run added, updated, unsubscribed or re-subscribed (GET …/changes adds outcomes). */
  changes?: string;
  dryRun: boolean;
  fullSync: boolean;
  /** The run the removal guard stopped whose removals this run was started to confirm (administrators only). */
  confirmRemovals?: string;
  /** Dry runs: a sample of the payloads the run would send (`container/name`). */
  payloadSample?: string;
  batches: { total?: number; done: number };
  removals?: RemovalCheck;
  /** When the planner or the run watcher last showed progress. */
  lastProgressAt?: string;
}

/** What the scheduled refresh will do with an export, as things stand now (GET /api/exports/{id}). */
export interface RefreshOutlook {
  /** The refresh's next tick (REFRESH_SCHEDULE, UTC). */
  nextCheckAt?: string;
  /** Whether that tick would start a run if nothing changed before it. */
  wouldRun: boolean;
  /** Why it would not. */
  reason?: string;
  /**
   * The last blob event of the export's source that set off a check (when the blob landed, and its
   * `container/name`): new snapshots start a run within seconds; the tick is the fallback.
   */
  lastEvent?: { at: string; blob: string };
}
