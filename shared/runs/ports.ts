import type { BlobServiceClient } from '@azure/storage-blob';
import type { ActiveCampaignClient, ImportContact } from '../activecampaign/client.js';
import type { AuditPort } from '../audit/auditLog.js';
import type { AppConfig } from '../config.js';
import type { Connection, Export, Run } from '../model.js';
import type { EmailRange, EmailTable } from '../sync/emailTable.js';
import type { Telemetry } from '../telemetry.js';
import type { WebhookEventType } from '../webhooks/webhookModel.js';
import type { BatchState, ContactChange, RejectedRow, Rename, Returner, RunRecord, ValuesToClear } from './runModel.js';
import type { BatchMessage, ImportCheckMessage, PlanMessage, SnapshotCheckMessage, WatchMessage } from './runQueues.js';

/**
 * What the run engine needs from the world, as small interfaces: store/ implements them over Azure
 * Storage, the tests in memory. The workers see only these, so each can be tested without Azurite.
 */

/** Run state: the runs, their batches and the one-active-run lease of each export. */
export interface RunsPort {
  /** Takes the export's lease and writes the run; RunActiveError or ExportBeingEditedError when it cannot. */
  createRun(run: RunRecord): Promise<RunRecord>;
  getRun(exportId: string, runId: string): Promise<RunRecord | undefined>;
  /** One page of the export's runs, newest first. */
  listRuns(exportId: string, options?: { top?: number }): Promise<{ runs: RunRecord[] }>;
  activeRunId(exportId: string): Promise<string | undefined>;
  /**
   * Read-modify-write under the run's ETag, retried on conflict; `change` returns the new run or
   * undefined to leave it. A run that turns terminal gives its export's lease back.
   */
  updateRun(
    exportId: string,
    runId: string,
    change: (run: RunRecord) => RunRecord | undefined,
  ): Promise<{ run: RunRecord; changed: boolean }>;
  /** Writes a new batch; an existing one is kept as it is. */
  createBatch(state: BatchState): Promise<void>;
  getBatch(runId: string, batch: number): Promise<BatchState | undefined>;
  /**
   * Like updateRun, for one batch; `change` may be called more than once. With `known` (read earlier,
   * with its ETag) the first attempt skips the read. Undefined when the batch does not exist.
   */
  updateBatch(
    runId: string,
    batch: number,
    change: (state: BatchState) => BatchState | undefined,
    known?: BatchState,
  ): Promise<BatchState | undefined>;
  listBatches(runId: string): AsyncIterable<BatchState>;
}

/** Sends the engine's messages, each on its queue, after `delayInMs`. */
export interface QueuesPort {
  plan(message: PlanMessage, delayInMs?: number): Promise<void>;
  batches(message: BatchMessage, delayInMs?: number): Promise<void>;
  importCheck(message: ImportCheckMessage, delayInMs: number): Promise<void>;
  watch(message: WatchMessage, delayInMs: number): Promise<void>;
  snapshotCheck(message: SnapshotCheckMessage, delayInMs: number): Promise<void>;
  /** Any queue by name (a poison handler puts a message back on its own poison queue). */
  send(queue: string, message: object, delayInMs?: number): Promise<void>;
}

/** Appends rows to a run's rejected rows. */
export interface RejectedRowsPort {
  /** Rows added through this writer. */
  readonly count: number;
  add(row: RejectedRow): Promise<void>;
  flush(): Promise<void>;
}

/** The files a run writes: batch payloads, failed emails, returners, rejected rows, a dry run's sample. */
export interface RunFilesPort {
  writeBatch(runId: string, batch: number, contacts: ImportContact[]): Promise<void>;
  /** Undefined when it is gone (its run ended and cleaned up). */
  readBatch(runId: string, batch: number): Promise<ImportContact[] | undefined>;
  addFailedEmails(runId: string, batch: number, emails: string[]): Promise<void>;
  readFailedEmails(runId: string, batch: number): Promise<string[]>;
  /** Update-only: the emails of a batch that ActiveCampaign does not have (never sent). */
  addNotInActiveCampaign(runId: string, batch: number, emails: string[]): Promise<void>;
  readNotInActiveCampaign(runId: string, batch: number): Promise<string[]>;
  writeReturners(runId: string, batch: number, returners: Returner[]): Promise<void>;
  /** A batch's contacts whose emptied values are cleared (mapping.emptyValues). */
  writeClears(runId: string, batch: number, clears: ValuesToClear[]): Promise<void>;
  readClears(runId: string, batch: number): Promise<ValuesToClear[]>;
  /** A batch's email changes (mapping.identity), and the old emails of those done. */
  writeRenames(runId: string, batch: number, renames: Rename[]): Promise<void>;
  readRenames(runId: string, batch: number): Promise<Rename[]>;
  addRenamed(runId: string, batch: number, emails: string[]): Promise<void>;
  readRenamed(runId: string, batch: number): Promise<string[]>;
  /** An untag batch's leavers (removeTagsWhenLeaving). */
  writeUntags(runId: string, batch: number, emails: string[]): Promise<void>;
  readUntags(runId: string, batch: number): Promise<string[]>;
  readReturners(runId: string, batch: number): Promise<Returner[]>;
  writeSample(runId: string, sample: unknown): Promise<void>;
  /** `fresh` starts the file over (a planner that runs again must not list rows twice). */
  rejectedRows(runId: string, options?: { fresh?: boolean }): Promise<RejectedRowsPort>;
  /** `container/name` of the run's rejected rows and sample, as the run names them. */
  rejectedPath(runId: string): string;
  /** The planner's list of the emails the run changes (started over each time it is opened). */
  changes(runId: string): Promise<ChangesPort>;
  changesPath(runId: string): string;
  samplePath(runId: string): string;
  /** Deletes what a run only needed while it sent; the files of batches in `keep` stay. */
  deleteWorkFiles(runId: string, keep?: ReadonlySet<number>): Promise<void>;
  deleteBatchFiles(runId: string, batch: number): Promise<void>;
  /** Deletes every file of at most `max` runs that started before `before`; returns how many runs. */
  deleteRunsStartedBefore(before: number, max: number): Promise<number>;
}

/** A contact of an export's state: its email and the value kept for it (sync/delta.ts). */
export type StateEntry = [email: string, value: number];

/** Where an export's committed state is (see ExportStatePort). */
export interface StatePointer {
  blob: string;
  runId: string;
  contacts: number;
  committedAt: string;
}

/**
 * How a run's end changes its pending state before it is committed, one range of emails at a time
 * (a run that failed whole changes every contact: its changes are held a range at a time, like the
 * planner's emails).
 */
export interface StateChanges {
  /** Together every email, once. */
  ranges: readonly EmailRange[];
  /**
   * The changes in `range`: in the table, a pending contact with a value gets that value, one seen
   * without a value is left out (it failed: the next run sends it again); contacts the pending state
   * lacks (leavers this run unsubscribed) are handed to `add`.
   */
  changesIn(range: EmailRange, add: (email: string, value: number) => Promise<void> | undefined): Promise<EmailTable>;
}

/** Writes the state a run would commit while it plans. */
export interface StateWriterPort {
  /**
   * `identity`: the contact's identity when the export follows one (no tab or line break in it). Returns a promise
   * only when the writer wants the caller to wait (a million contacts are not a million awaits).
   */
  add(email: string, value: number, identity?: string): Promise<void> | undefined;
  close(): Promise<void>;
}

/** An export's state from its last successful run: each contact's email and the fingerprint of what was sent. */
export interface ExportStatePort {
  pointer(exportId: string): Promise<StatePointer | undefined>;
  /** Adds the contacts in `range` of a committed state to `table`. */
  load(pointer: StatePointer | undefined, table: EmailTable, range?: EmailRange): Promise<void>;
  /** The contacts of a committed state (in `range`), in arrays. */
  entries(pointer: StatePointer | undefined, range?: EmailRange): AsyncIterable<StateEntry[]>;
  /** The identities a committed state holds (mapping.identity), each with its contact's email. */
  identities(pointer: StatePointer | undefined): AsyncIterable<[string, string]>;
  pendingWriter(runId: string): Promise<StateWriterPort>;
  /** Commits a run's pending state with its end's changes, then points the export at it. Safe to repeat. */
  commit(exportId: string, runId: string, changes: StateChanges): Promise<StatePointer>;
}

/** An export's pending look at its source, and the last blob event that concerned it. */
export interface SnapshotCheckRecord {
  exportId: string;
  /** The check that is on its way (its message's checkId), and when it is due (ms since epoch). */
  checkId?: string;
  dueAt?: number;
  /** The last blob event that scheduled a check: when the blob landed, and its `container/name`. */
  lastEventAt?: string;
  lastEventBlob?: string;
  etag?: string;
}

/** The snapshot checks of the exports: one record each, written under its ETag. */
export interface SnapshotChecksPort {
  get(exportId: string): Promise<SnapshotCheckRecord | undefined>;
  /**
   * Read-modify-write of an export's record (created when missing), retried on conflict; `change`
   * returns the new record or undefined to leave it. Returns the record as stored and whether it changed.
   */
  update(
    exportId: string,
    change: (record: SnapshotCheckRecord) => SnapshotCheckRecord | undefined,
  ): Promise<{ record: SnapshotCheckRecord; changed: boolean }>;
  delete(exportId: string): Promise<void>;
}

/** Stored records by id (`getCached` may answer from a short-lived cache). */
export interface RecordsPort<T> {
  get(id: string): Promise<T | undefined>;
  getCached(id: string): Promise<T | undefined>;
  list(): Promise<T[]>;
}

/** Tells the run webhooks' endpoints that a run started or ended; never fails and never waits on a receiver. */
export interface RunEventsPort {
  announce(type: WebhookEventType, run: Run): Promise<void>;
}

/** The emails a run's plan changes, each with its batch, appended as the planner goes. */
export interface ChangesPort {
  readonly count: number;
  /** One batch's contacts, each with what the run does to it. */
  addBatch(batch: number, contacts: readonly { email: string; change: ContactChange }[]): Promise<void>;
  flush(): Promise<void>;
}

/** Everything the engine's workers use; each declares the few members it needs (a Pick of this). */
export interface EngineDeps {
  config: AppConfig;
  telemetry: Telemetry;
  runs: RunsPort;
  queues: QueuesPort;
  runFiles: RunFilesPort;
  exportState: ExportStatePort;
  snapshotChecks: SnapshotChecksPort;
  runEvents: RunEventsPort;
  audit: AuditPort;
  /** The hashes of erased emails, with when each was erased (a run warns when one is back). */
  erasures: { erasedEmailHashes(): Promise<Map<string, string>> };
  exports: RecordsPort<Export>;
  connections: RecordsPort<Connection>;
  /** The segments' storage, read by the planner (segments/). */
  segments: { blobs: BlobServiceClient };
  /** A client for a connection, with its key and the shared rate budget. */
  activeCampaign(connection: Pick<Connection, 'id' | 'hostname'>): Promise<ActiveCampaignClient>;
}
