import { randomBytes } from 'node:crypto';
import type { TableClient, TableEntityResult } from '@azure/data-tables';
import { COUNT_NAMES, emptyCounts, TERMINAL_STATUSES, type Run, type RunStatus } from '../model.js';
import {
  ExportBeingEditedError,
  RunActiveError,
  type BatchState,
  type BatchStatus,
  type RunRecord,
} from '../runs/runModel.js';
import type { RunsPort } from '../runs/ports.js';
import { ensureTable, isConflict, isNotFound, odataString } from './tables.js';

/** A lease held by an edit names no run: `edit:<id>`, until `editUntil` (ms since epoch). */
const EDIT_PREFIX = 'edit:';
const isEdit = (lease: Record<string, unknown>) => String(lease.runId).startsWith(EDIT_PREFIX);

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

/**
 * Whether a continuation token has the shape of those a paged Table listing gives (runs, the audit
 * log): the Tables SDK's token, base64 of {nextPartitionKey, nextRowKey} (whose values only the
 * storage service reads). The SDK throws a SyntaxError on any other.
 */
export function isTablePageToken(token: string): boolean {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64').toString('latin1')) as {
      nextPartitionKey?: unknown;
      nextRowKey?: unknown;
    } | null;
    return (
      t !== null &&
      typeof t === 'object' &&
      typeof t.nextPartitionKey === 'string' &&
      (t.nextRowKey === undefined || typeof t.nextRowKey === 'string')
    );
  } catch {
    return false;
  }
}

/** Owns run state: the runs, their batches and the one-active-run lease of each export. */
export class RunStore implements RunsPort {
  constructor(
    readonly runsTable: TableClient,
    readonly batchesTable: TableClient,
    readonly leasesTable: TableClient,
  ) {}

  /**
   * Takes the export's lease and writes the run, or throws RunActiveError with the active run's id
   * (ExportBeingEditedError while an edit holds it). A lease whose run is terminal (or gone), or
   * whose edit ran out, is stale and taken over with an ETag check.
   */
  async createRun(run: RunRecord): Promise<RunRecord> {
    await this.#takeLease(run.exportId, { runId: run.runId });
    await (await ensureTable(this.runsTable)).createEntity(toRunEntity(run));
    return run;
  }

  /**
   * Holds the export's lease for an edit of its settings, so that the edit and the start of a run
   * are ordered: a run cannot start while the edit checks and writes, and an edit cannot begin while
   * a run is active (RunActiveError). Returns the id to release it with.
   */
  async holdForEdit(exportId: string, ttlInMs: number): Promise<string> {
    const editId = randomBytes(8).toString('hex');
    await this.#takeLease(exportId, { runId: `${EDIT_PREFIX}${editId}`, editUntil: Date.now() + ttlInMs });
    return editId;
  }

  /** Whether the edit still holds the lease (it may have run out while ActiveCampaign was slow). */
  async holdsEdit(exportId: string, editId: string): Promise<boolean> {
    const lease = await getEntity(await ensureTable(this.leasesTable), 'lease', exportId);
    return !!lease && lease.runId === `${EDIT_PREFIX}${editId}` && Number(lease.editUntil) > Date.now();
  }

  async releaseEdit(exportId: string, editId: string): Promise<void> {
    await this.#releaseLease(exportId, `${EDIT_PREFIX}${editId}`);
  }

  async #takeLease(exportId: string, holder: { runId: string; editUntil?: number }): Promise<void> {
    const leases = await ensureTable(this.leasesTable);
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await leases.createEntity({ partitionKey: 'lease', rowKey: exportId, ...holder });
        return;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
      const lease = await getEntity(leases, 'lease', exportId);
      if (!lease) continue;
      if (isEdit(lease)) {
        if (Number(lease.editUntil) > Date.now())
          throw new ExportBeingEditedError(`Export ${exportId} is being edited`);
      } else {
        const run = await this.getRun(exportId, String(lease.runId));
        if (run && !TERMINAL_STATUSES.has(run.status)) throw new RunActiveError(run.runId);
      }
      try {
        await leases.updateEntity({ partitionKey: 'lease', rowKey: exportId, ...holder }, 'Replace', {
          etag: lease.etag,
        });
        return;
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
    }
    throw new Error(`Could not take the lease of export ${exportId}`);
  }

  /** The id of the export's active run, if any. */
  async activeRunId(exportId: string): Promise<string | undefined> {
    const lease = await getEntity(await ensureTable(this.leasesTable), 'lease', exportId);
    if (!lease || isEdit(lease)) return undefined;
    const run = await this.getRun(exportId, String(lease.runId));
    return run && !TERMINAL_STATUSES.has(run.status) ? run.runId : undefined;
  }

  async getRun(exportId: string, runId: string): Promise<RunRecord | undefined> {
    const e = await getEntity(await ensureTable(this.runsTable), exportId, runId);
    return e ? fromRunEntity(e) : undefined;
  }

  /** One page of the export's runs, newest first (run ids sort newest first). */
  async listRuns(
    exportId: string,
    options: { top?: number; continuationToken?: string } = {},
  ): Promise<{ runs: RunRecord[]; continuationToken?: string }> {
    const table = await ensureTable(this.runsTable);
    const pages = table
      .listEntities<Entity>({ queryOptions: { filter: `PartitionKey eq ${odataString(exportId)}` } })
      .byPage({ maxPageSize: options.top ?? 50, continuationToken: options.continuationToken });
    for await (const page of pages) {
      return { runs: page.map(fromRunEntity), continuationToken: page.continuationToken };
    }
    return { runs: [] };
  }

  /** Every run of an export, newest first (deleting an export, retention). */
  async *allRuns(exportId: string): AsyncGenerator<RunRecord> {
    const table = await ensureTable(this.runsTable);
    for await (const e of table.listEntities<Entity>({
      queryOptions: { filter: `PartitionKey eq ${odataString(exportId)}` },
    }))
      yield fromRunEntity(e);
  }

  /**
   * Read-modify-write of a run under its ETag, retried on conflict. `change` returns the new run,
   * or undefined to leave it as it is. Returns the run as stored afterwards and whether it changed.
   * A run that becomes terminal gives its export's lease back.
   */
  async updateRun(
    exportId: string,
    runId: string,
    change: (run: RunRecord) => RunRecord | undefined,
  ): Promise<{ run: RunRecord; changed: boolean }> {
    const table = await ensureTable(this.runsTable);
    for (;;) {
      const e = await getEntity(table, exportId, runId);
      if (!e) throw new Error(`Run ${runId} of export ${exportId} does not exist`);
      const current = fromRunEntity(e);
      const next = change(structuredClone(current));
      if (!next) return { run: current, changed: false };
      try {
        await table.updateEntity(toRunEntity(next), 'Replace', { etag: e.etag });
        if (TERMINAL_STATUSES.has(next.status) && !TERMINAL_STATUSES.has(current.status))
          await this.#releaseLease(exportId, runId);
        return { run: next, changed: true };
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  async deleteRun(exportId: string, runId: string): Promise<void> {
    await deleteEntity(await ensureTable(this.runsTable), exportId, runId);
    const batches = await ensureTable(this.batchesTable);
    for (const filter of [batchRange(runId), `PartitionKey eq ${odataString(runId)}`])
      for await (const e of batches.listEntities<Entity>({
        queryOptions: { filter, select: ['PartitionKey', 'RowKey'] },
      }))
        await deleteEntity(batches, e.partitionKey, e.rowKey);
  }

  /** Gives the export's lease back if `holder` (a run id, or an edit's) still has it. */
  async #releaseLease(exportId: string, holder: string): Promise<void> {
    const leases = await ensureTable(this.leasesTable);
    const lease = await getEntity(leases, 'lease', exportId);
    if (!lease || lease.runId !== holder) return;
    try {
      await leases.deleteEntity('lease', exportId, { etag: lease.etag });
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
    const table = await ensureTable(this.batchesTable);
    const key = batchKeys(runId, batch);
    const e =
      (await getEntity(table, key.partitionKey, key.rowKey)) ?? (await getEntity(table, runId, legacyRowKey(batch)));
    return e ? fromBatchEntity(e) : undefined;
  }

  /**
   * Like updateRun, for one batch; `change` may be called more than once. With `known` (a state
   * read earlier, with its ETag) the first attempt skips the read. Every write is conditional, so
   * two deliveries of one batch cannot both claim it.
   */
  async updateBatch(
    runId: string,
    batch: number,
    change: (state: BatchState) => BatchState | undefined,
    known?: BatchState,
  ): Promise<BatchState | undefined> {
    const table = await ensureTable(this.batchesTable);
    let current = known?.etag ? known : undefined;
    for (;;) {
      if (!current) {
        current = await this.getBatch(runId, batch);
        if (!current) return undefined;
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
    let found = false;
    for await (const e of table.listEntities<Entity>({ queryOptions: { filter: batchRange(runId) } })) {
      found = true;
      yield fromBatchEntity(e);
    }
    if (found) return;
    for await (const e of table.listEntities<Entity>({
      queryOptions: { filter: `PartitionKey eq ${odataString(runId)}` },
    }))
      yield fromBatchEntity(e);
  }
}

/**
 * Where a batch is kept: a partition of its own, `<runId>-<batch>`, and a run's batches are a range of partitions.
 * In Azure a point read costs the same either way; Azurite's tables find an entity by scanning its partition, and a
 * run's 4,000 batches in one partition made every claim and check scan them all (77 s of Azurite's CPU in the
 * million-contact benchmark). Batches written before are under their run's partition, their number the row key:
 * read, updated and deleted where they are (`inRunPartition`).
 */
const batchKeys = (runId: string, batch: number) => ({
  partitionKey: `${runId}-${String(batch).padStart(7, '0')}`,
  rowKey: 'batch',
});
const legacyRowKey = (batch: number) => String(batch).padStart(7, '0');
/** The partitions of a run's batches: `<runId>-…` ('.' follows '-'). */
const batchRange = (runId: string) =>
  `PartitionKey ge ${odataString(`${runId}-`)} and PartitionKey lt ${odataString(`${runId}.`)}`;

async function getEntity(table: TableClient, pk: string, rk: string): Promise<TableEntityResult<Entity> | undefined> {
  try {
    return await table.getEntity<Entity>(pk, rk);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function deleteEntity(table: TableClient, pk: string, rk: string): Promise<void> {
  try {
    await table.deleteEntity(pk, rk);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** Properties kept as JSON text (Table properties are scalars). */
const JSON_PROPERTIES = ['snapshot', 'reasons', 'removals', 'plan', 'confirmation', 'warnings'] as const;

function toRunEntity(run: RunRecord): Entity {
  const { runId, exportId, counts, batches, ...rest } = run;
  const e: Entity = {
    partitionKey: exportId,
    rowKey: runId,
    ...rest,
    batchesTotal: batches.total,
    batchesDone: batches.done,
  };
  for (const k of JSON_PROPERTIES) e[k] = run[k] === undefined ? undefined : JSON.stringify(run[k]);
  for (const k of COUNT_NAMES) e[`count_${k}`] = counts[k];
  for (const key of Object.keys(e)) if (e[key] === undefined) delete e[key];
  return e;
}

function fromRunEntity(e: Entity): RunRecord {
  const counts = emptyCounts();
  for (const k of COUNT_NAMES) counts[k] = Number(e[`count_${k}`] ?? 0);
  const text = (k: string) => (typeof e[k] === 'string' ? e[k] : undefined);
  const parsed = <T>(k: string): T | undefined => (text(k) === undefined ? undefined : (JSON.parse(text(k)!) as T));
  return {
    runId: e.rowKey,
    exportId: e.partitionKey,
    trigger: e.trigger as Run['trigger'],
    status: e.status as RunStatus,
    snapshot: parsed('snapshot'),
    counts,
    error: text('error'),
    warnings: parsed('warnings'),
    reasons: parsed('reasons'),
    startedAt: String(e.startedAt),
    finishedAt: text('finishedAt'),
    rejectedRows: text('rejectedRows'),
    changes: text('changes'),
    dryRun: Boolean(e.dryRun),
    fullSync: Boolean(e.fullSync),
    confirmRemovals: text('confirmRemovals'),
    payloadSample: text('payloadSample'),
    batches: {
      total: e.batchesTotal === undefined ? undefined : Number(e.batchesTotal),
      done: Number(e.batchesDone ?? 0),
    },
    removals: parsed('removals'),
    lastProgressAt: text('lastProgressAt'),
    plan: parsed('plan'),
    confirmation: parsed('confirmation'),
    watchId: text('watchId'),
    batchProgressAt: text('batchProgressAt'),
  };
}

function toBatchEntity(s: BatchState): Entity {
  const key = s.inRunPartition ? { partitionKey: s.runId, rowKey: legacyRowKey(s.batch) } : batchKeys(s.runId, s.batch);
  const e: Entity = { ...key, ...s };
  delete e.runId;
  delete e.batch;
  delete e.etag;
  delete e.inRunPartition;
  e.rejectedReasons = s.rejectedReasons ? JSON.stringify(s.rejectedReasons) : undefined;
  for (const key of Object.keys(e)) if (e[key] === undefined) delete e[key];
  return e;
}

function fromBatchEntity(e: Entity): BatchState {
  const n = (k: string) => Number(e[k] ?? 0);
  const inRunPartition = e.rowKey !== 'batch';
  const dash = e.partitionKey.lastIndexOf('-');
  return {
    runId: inRunPartition ? e.partitionKey : e.partitionKey.slice(0, dash),
    batch: Number(inRunPartition ? e.rowKey : e.partitionKey.slice(dash + 1)),
    ...(inRunPartition ? { inRunPartition } : {}),
    status: e.status as BatchStatus,
    contacts: n('contacts'),
    unsubscribes: n('unsubscribes'),
    resubscribes: n('resubscribes'),
    importId: (e.importId as string | undefined) ?? undefined,
    postedUpserts: e.postedUpserts === undefined ? undefined : Number(e.postedUpserts),
    postedUnsubscribes: e.postedUnsubscribes === undefined ? undefined : Number(e.postedUnsubscribes),
    claimId: (e.claimId as string | undefined) ?? undefined,
    claimedUntil: e.claimedUntil === undefined ? undefined : Number(e.claimedUntil),
    postingAt: e.postingAt === undefined ? undefined : Number(e.postingAt),
    attempts: n('attempts'),
    resubmits: n('resubmits'),
    uncertainPosts: n('uncertainPosts'),
    rejected: n('rejected'),
    upserted: n('upserted'),
    unsubscribed: n('unsubscribed'),
    failed: n('failed'),
    unknown: n('unknown'),
    notSent: n('notSent'),
    lookedUp: e.lookedUp === undefined ? undefined : Number(e.lookedUp),
    notInActiveCampaign: n('notInActiveCampaign'),
    untags: n('untags'),
    untagsDone: e.untagsDone === undefined ? undefined : Number(e.untagsDone),
    untagged: n('untagged'),
    untagFailed: n('untagFailed'),
    renames: n('renames'),
    renamesDone: e.renamesDone === undefined ? undefined : Number(e.renamesDone),
    emailChanged: n('emailChanged'),
    clears: n('clears'),
    clearsDone: e.clearsDone === undefined ? undefined : Number(e.clearsDone),
    clearFailed: n('clearFailed'),
    error: (e.error as string | undefined) ?? undefined,
    rejectedReasons:
      typeof e.rejectedReasons === 'string' ? (JSON.parse(e.rejectedReasons) as Record<string, number>) : undefined,
    etag: (e.etag as string | undefined) ?? undefined,
  };
}
