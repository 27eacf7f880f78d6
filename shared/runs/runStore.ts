import { randomBytes } from 'node:crypto';
import type { TableClient, TableEntityResult } from '@azure/data-tables';
import { emptyCounts, TERMINAL_STATUSES, type Run, type RunCounts } from '../model.js';
import { ensureTable, isConflict, isNotFound } from '../store/tables.js';

const LEASE_PK = 'lease';
const COUNT_KEYS: (keyof RunCounts)[] = ['read', 'rejected', 'duplicate', 'unchanged', 'upserted', 'unsubscribed', 'failed'];

/** Another run of the export holds its lease. */
export class RunActiveError extends Error {
  override readonly name = 'RunActiveError';
  constructor(readonly runId: string) {
    super(`Run ${runId} of this export is still active`);
  }
}

export type BatchStatus = 'pending' | 'submitted' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL_BATCH: ReadonlySet<BatchStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface BatchState {
  runId: string;
  batch: number;
  status: BatchStatus;
  /** Contacts planned into the batch, and how many of them are unsubscribes (mirror mode). */
  contacts: number;
  unsubscribes: number;
  /** ActiveCampaign's batchId of the accepted import. */
  importId?: string;
  attempts: number;
  resubmits: number;
  rejected: number;
  upserted: number;
  unsubscribed: number;
  failed: number;
  error?: string;
  /** Whether this batch's outcome was recorded (exactly once). */
  counted: boolean;
  /** The entity's ETag when read, so that an update can skip reading it again. */
  etag?: string;
}

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

/** Newest first in Table order, and readable: inverted milliseconds plus randomness. */
export function newRunId(now = Date.now()): string {
  return `${(9_999_999_999_999 - now).toString().padStart(13, '0')}${randomBytes(4).toString('hex')}`;
}

/** Owns run state: the runs, their batches and the one-active-run lease of each export. */
export class RunStore {
  constructor(
    readonly runsTable: TableClient,
    readonly batchesTable: TableClient,
  ) {}

  /**
   * Takes the export's lease and writes the run, or throws RunActiveError with the active run's id.
   * A lease whose run is terminal (or gone) is stale and taken over with an ETag check.
   */
  async createRun(run: Run): Promise<Run> {
    const table = await ensureTable(this.runsTable);
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await table.createEntity({ partitionKey: LEASE_PK, rowKey: run.exportId, runId: run.runId });
      } catch (error) {
        if (!isConflict(error)) throw error;
        const lease = await this.#getEntity(table, LEASE_PK, run.exportId);
        if (!lease) continue;
        const holder = await this.getRun(run.exportId, String(lease.runId));
        if (holder && !TERMINAL_STATUSES.has(holder.status)) throw new RunActiveError(holder.runId);
        try {
          await table.updateEntity({ partitionKey: LEASE_PK, rowKey: run.exportId, runId: run.runId }, 'Replace', { etag: lease.etag });
        } catch (e) {
          if (isConflict(e) || isNotFound(e)) continue;
          throw e;
        }
      }
      await table.createEntity(toRunEntity(run));
      return run;
    }
    throw new Error(`Could not take the run lease of export ${run.exportId}`);
  }

  /** The id of the export's active run, if any. */
  async activeRunId(exportId: string): Promise<string | undefined> {
    const lease = await this.#getEntity(await ensureTable(this.runsTable), LEASE_PK, exportId);
    if (!lease) return undefined;
    const run = await this.getRun(exportId, String(lease.runId));
    return run && !TERMINAL_STATUSES.has(run.status) ? run.runId : undefined;
  }

  async getRun(exportId: string, runId: string): Promise<Run | undefined> {
    const e = await this.#getEntity(await ensureTable(this.runsTable), exportId, runId);
    return e ? fromRunEntity(e) : undefined;
  }

  async listRuns(exportId: string, top = 50): Promise<Run[]> {
    const table = await ensureTable(this.runsTable);
    const out: Run[] = [];
    const filter = `PartitionKey eq '${exportId.replace(/'/g, "''")}'`;
    for await (const e of table.listEntities<Entity>({ queryOptions: { filter } })) {
      out.push(fromRunEntity(e));
      if (out.length >= top) break;
    }
    return out;
  }

  /**
   * Read-modify-write of a run under its ETag, retried on conflict. `change` returns the new run,
   * or undefined to leave it as it is. Returns the run as stored afterwards and whether it changed.
   */
  async updateRun(exportId: string, runId: string, change: (run: Run) => Run | undefined): Promise<{ run: Run; changed: boolean }> {
    const table = await ensureTable(this.runsTable);
    for (;;) {
      const e = await this.#getEntity(table, exportId, runId);
      if (!e) throw new Error(`Run ${runId} of export ${exportId} does not exist`);
      const current = fromRunEntity(e);
      const next = change(structuredClone(current));
      if (!next) return { run: current, changed: false };
      try {
        await table.updateEntity(toRunEntity(next), 'Replace', { etag: e.etag });
        if (TERMINAL_STATUSES.has(next.status) && !TERMINAL_STATUSES.has(current.status)) await this.#releaseLease(exportId, runId);
        return { run: next, changed: true };
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  async #releaseLease(exportId: string, runId: string): Promise<void> {
    const table = await ensureTable(this.runsTable);
    const lease = await this.#getEntity(table, LEASE_PK, exportId);
    if (!lease || lease.runId !== runId) return;
    try {
      await table.deleteEntity(LEASE_PK, exportId, { etag: lease.etag });
    } catch (error) {
      if (!isConflict(error) && !isNotFound(error)) throw error;
    }
  }

  /** Writes a new batch; an existing one (a planner that runs again) is kept as it is. */
  async createBatch(state: BatchState): Promise<void> {
    try {
      await (await ensureTable(this.batchesTable)).createEntity(toBatchEntity(state));
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }

  async getBatch(runId: string, batch: number): Promise<BatchState | undefined> {
    const e = await this.#getEntity(await ensureTable(this.batchesTable), runId, batchKey(batch));
    return e ? fromBatchEntity(e) : undefined;
  }

  /**
   * Like updateRun, for one batch; `change` may be called more than once. With `known` (a state
   * read earlier, with its ETag) the first attempt skips the read.
   */
  async updateBatch(runId: string, batch: number, change: (state: BatchState) => BatchState | undefined, known?: BatchState): Promise<BatchState | undefined> {
    const table = await ensureTable(this.batchesTable);
    let current = known?.etag ? known : undefined;
    for (;;) {
      if (!current) {
        const e = await this.#getEntity(table, runId, batchKey(batch));
        if (!e) return undefined;
        current = fromBatchEntity(e);
      }
      const next = change({ ...current });
      if (!next) return current;
      try {
        const result = await table.updateEntity(toBatchEntity(next), 'Replace', { etag: current.etag });
        return { ...next, etag: result.etag };
      } catch (error) {
        if (!isConflict(error)) throw error;
        current = undefined;
      }
    }
  }

  async *listBatches(runId: string): AsyncIterable<BatchState> {
    const table = await ensureTable(this.batchesTable);
    const filter = `PartitionKey eq '${runId.replace(/'/g, "''")}'`;
    for await (const e of table.listEntities<Entity>({ queryOptions: { filter } })) yield fromBatchEntity(e);
  }

  async #getEntity(table: TableClient, pk: string, rk: string): Promise<TableEntityResult<Entity> | undefined> {
    try {
      return await table.getEntity<Entity>(pk, rk);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}

const batchKey = (batch: number) => String(batch).padStart(7, '0');

function toRunEntity(run: Run): Entity {
  const e: Entity = {
    partitionKey: run.exportId,
    rowKey: run.runId,
    trigger: run.trigger,
    status: run.status,
    snapshot: run.snapshot ? JSON.stringify(run.snapshot) : undefined,
    error: run.error,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    rejectedRows: run.rejectedRows,
    payloadSample: run.payloadSample,
    dryRun: run.dryRun,
    fullSync: run.fullSync,
    batchesTotal: run.batches.total,
    batchesDone: run.batches.done,
    lastProgressAt: run.lastProgressAt,
  };
  for (const k of COUNT_KEYS) e[`count_${k}`] = run.counts[k];
  for (const key of Object.keys(e)) if (e[key] === undefined) delete e[key];
  return e;
}

function fromRunEntity(e: Entity): Run {
  const counts = emptyCounts();
  for (const k of COUNT_KEYS) counts[k] = Number(e[`count_${k}`] ?? 0);
  return {
    runId: e.rowKey,
    exportId: e.partitionKey,
    trigger: e.trigger as Run['trigger'],
    status: e.status as Run['status'],
    snapshot: typeof e.snapshot === 'string' ? JSON.parse(e.snapshot) : undefined,
    counts,
    error: (e.error as string | undefined) ?? undefined,
    startedAt: String(e.startedAt),
    finishedAt: (e.finishedAt as string | undefined) ?? undefined,
    rejectedRows: (e.rejectedRows as string | undefined) ?? undefined,
    payloadSample: (e.payloadSample as string | undefined) ?? undefined,
    dryRun: Boolean(e.dryRun),
    fullSync: Boolean(e.fullSync),
    batches: { total: e.batchesTotal === undefined ? undefined : Number(e.batchesTotal), done: Number(e.batchesDone ?? 0) },
    lastProgressAt: (e.lastProgressAt as string | undefined) ?? undefined,
  };
}

function toBatchEntity(s: BatchState): Entity {
  const e: Entity = { partitionKey: s.runId, rowKey: batchKey(s.batch), ...s };
  delete e.runId;
  delete e.batch;
  delete e.etag;
  for (const key of Object.keys(e)) if (e[key] === undefined) delete e[key];
  return e;
}

function fromBatchEntity(e: Entity): BatchState {
  return {
    runId: e.partitionKey,
    batch: Number(e.rowKey),
    status: e.status as BatchStatus,
    contacts: Number(e.contacts ?? 0),
    unsubscribes: Number(e.unsubscribes ?? 0),
    importId: (e.importId as string | undefined) ?? undefined,
    attempts: Number(e.attempts ?? 0),
    resubmits: Number(e.resubmits ?? 0),
    rejected: Number(e.rejected ?? 0),
    upserted: Number(e.upserted ?? 0),
    unsubscribed: Number(e.unsubscribed ?? 0),
    failed: Number(e.failed ?? 0),
    error: (e.error as string | undefined) ?? undefined,
    counted: Boolean(e.counted),
    etag: (e.etag as string | undefined) ?? undefined,
  };
}
