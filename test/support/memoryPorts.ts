import { BlobServiceClient } from '@azure/storage-blob';
import type { AuditEntry, AuditPort } from '../../shared/audit/auditLog.js';
import { ActiveCampaignClient, type ImportContact } from '../../shared/activecampaign/client.js';
import { readConfig, type AppConfig } from '../../shared/config.js';
import { emptyCounts, TERMINAL_STATUSES, type Connection, type Export, type Run } from '../../shared/model.js';
import type {
  ChangesPort,
  RunEventsPort,
  EngineDeps,
  ExportStatePort,
  QueuesPort,
  RecordsPort,
  RejectedRowsPort,
  RunFilesPort,
  RunsPort,
  SnapshotCheckRecord,
  SnapshotChecksPort,
  StateChanges,
  StateEntry,
  StatePointer,
  StateWriterPort,
} from '../../shared/runs/ports.js';
import {
  RunActiveError,
  runStartedAt,
  type BatchState,
  type RejectedRow,
  type ContactChange,
  type Rename,
  type Returner,
  type ValuesToClear,
  type RunRecord,
} from '../../shared/runs/runModel.js';
import { QUEUES, SEGMENT_QUEUES } from '../../shared/runs/runQueues.js';
import { ALL_EMAILS, EmailTable, type EmailRange } from '../../shared/sync/emailTable.js';
import { LogTelemetry } from '../../shared/telemetry.js';
import type { WebhookEventType } from '../../shared/webhooks/webhookModel.js';
import { EMULATOR_API_KEY, type ActiveCampaignEmulator } from '../../tools/acEmulator/server.js';

/**
 * The run engine's ports in memory, with the stores' semantics (ETag-conditional writes, the
 * export's lease, files that may be gone), so that each worker's handling of failures is tested in
 * milliseconds. Storage itself is tested against Azurite elsewhere.
 */

let etags = 0;
const nextEtag = () => `"${++etags}"`;

export class MemoryRuns implements RunsPort {
  readonly runs = new Map<string, RunRecord>();
  readonly batches = new Map<string, BatchState>();
  readonly leases = new Map<string, string>();

  async createRun(run: RunRecord): Promise<RunRecord> {
    const holder = this.leases.get(run.exportId);
    const active = holder ? this.runs.get(`${run.exportId}/${holder}`) : undefined;
    if (active && !TERMINAL_STATUSES.has(active.status)) throw new RunActiveError(active.runId);
    this.leases.set(run.exportId, run.runId);
    this.runs.set(`${run.exportId}/${run.runId}`, structuredClone(run));
    return Promise.resolve(run);
  }

  async getRun(exportId: string, runId: string): Promise<RunRecord | undefined> {
    const run = this.runs.get(`${exportId}/${runId}`);
    return Promise.resolve(run && structuredClone(run));
  }

  async listRuns(exportId: string, options: { top?: number } = {}): Promise<{ runs: RunRecord[] }> {
    const runs = [...this.runs.values()]
      .filter((r) => r.exportId === exportId)
      .sort((a, b) => a.runId.localeCompare(b.runId))
      .slice(0, options.top ?? 50);
    return Promise.resolve({ runs: structuredClone(runs) });
  }

  async activeRunId(exportId: string): Promise<string | undefined> {
    const holder = this.leases.get(exportId);
    const run = holder ? await this.getRun(exportId, holder) : undefined;
    return run && !TERMINAL_STATUSES.has(run.status) ? run.runId : undefined;
  }

  async updateRun(
    exportId: string,
    runId: string,
    change: (run: RunRecord) => RunRecord | undefined,
  ): Promise<{ run: RunRecord; changed: boolean }> {
    const current = await this.getRun(exportId, runId);
    if (!current) throw new Error(`Run ${runId} of export ${exportId} does not exist`);
    const next = change(structuredClone(current));
    if (!next) return { run: current, changed: false };
    this.runs.set(`${exportId}/${runId}`, structuredClone(next));
    if (TERMINAL_STATUSES.has(next.status) && this.leases.get(exportId) === runId) this.leases.delete(exportId);
    return { run: next, changed: true };
  }

  async createBatch(state: BatchState): Promise<void> {
    const key = `${state.runId}/${state.batch}`;
    if (!this.batches.has(key)) this.batches.set(key, { ...structuredClone(state), etag: nextEtag() });
    return Promise.resolve();
  }

  async getBatch(runId: string, batch: number): Promise<BatchState | undefined> {
    const state = this.batches.get(`${runId}/${batch}`);
    return Promise.resolve(state && structuredClone(state));
  }

  async updateBatch(
    runId: string,
    batch: number,
    change: (state: BatchState) => BatchState | undefined,
    known?: BatchState,
  ): Promise<BatchState | undefined> {
    const key = `${runId}/${batch}`;
    for (;;) {
      const stored = this.batches.get(key);
      if (!stored) return undefined;
      // A state read earlier is used as it was: a write on it fails (ETag) when another writer came first.
      const current = known?.etag ? known : structuredClone(stored);
      known = undefined;
      const next = change({ ...current });
      if (!next) return current;
      if (current.etag !== stored.etag) continue;
      const written = { ...structuredClone(next), etag: nextEtag() };
      this.batches.set(key, written);
      return structuredClone(written);
    }
  }

  async *listBatches(runId: string): AsyncIterable<BatchState> {
    for (const [key, state] of [...this.batches])
      if (key.startsWith(`${runId}/`)) yield await this.getBatch(runId, state.batch).then((s) => s!);
  }
}

export interface SentMessage {
  queue: string;
  message: Record<string, unknown>;
  delayInMs: number;
}

export class MemoryQueues implements QueuesPort {
  readonly sent: SentMessage[] = [];

  send(queue: string, message: object, delayInMs = 0): Promise<void> {
    this.sent.push({ queue, message: structuredClone(message) as Record<string, unknown>, delayInMs });
    return Promise.resolve();
  }
  plan(message: object, delayInMs = 0) {
    return this.send(QUEUES.plan, message, delayInMs);
  }
  batches(message: object, delayInMs = 0) {
    return this.send(QUEUES.batches, message, delayInMs);
  }
  importCheck(message: object, delayInMs: number) {
    return this.send(QUEUES.importCheck, message, delayInMs);
  }
  watch(message: object, delayInMs: number) {
    return this.send(QUEUES.watch, message, delayInMs);
  }
  snapshotCheck(message: object, delayInMs: number) {
    return this.send(SEGMENT_QUEUES.checks, message, delayInMs);
  }

  /** Takes the messages sent to `queue` so far (the test plays the host and delivers them). */
  take<T = Record<string, unknown>>(queue: string): (SentMessage & { message: T })[] {
    const taken = this.sent.filter((m) => m.queue === queue);
    for (const m of taken) this.sent.splice(this.sent.indexOf(m), 1);
    return taken as (SentMessage & { message: T })[];
  }
}

class MemoryRejectedRows implements RejectedRowsPort {
  count = 0;
  constructor(readonly rows: RejectedRow[]) {}
  add(row: RejectedRow): Promise<void> {
    this.rows.push(row);
    this.count++;
    return Promise.resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

class MemoryChanges implements ChangesPort {
  count = 0;
  constructor(readonly rows: [string, ContactChange, number][]) {}
  addBatch(batch: number, contacts: readonly { email: string; change: ContactChange }[]): Promise<void> {
    for (const c of contacts) this.rows.push([c.email, c.change, batch]);
    this.count += contacts.length;
    return Promise.resolve();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

export class MemoryRunFiles implements RunFilesPort {
  readonly files = new Map<string, unknown>();
  readonly rejected = new Map<string, RejectedRow[]>();
  readonly changed = new Map<string, [string, ContactChange, number][]>();

  #get<T>(name: string): Promise<T | undefined> {
    return Promise.resolve(structuredClone(this.files.get(name)) as T | undefined);
  }
  #put(name: string, value: unknown): Promise<void> {
    this.files.set(name, structuredClone(value));
    return Promise.resolve();
  }

  writeBatch(runId: string, batch: number, contacts: ImportContact[]) {
    return this.#put(`runs/${runId}/batches/${batch}`, contacts);
  }
  readBatch(runId: string, batch: number) {
    return this.#get<ImportContact[]>(`runs/${runId}/batches/${batch}`);
  }
  async addFailedEmails(runId: string, batch: number, emails: string[]) {
    const all = new Set([...(await this.readFailedEmails(runId, batch)), ...emails]);
    await this.#put(`runs/${runId}/failed/${batch}`, [...all]);
  }
  async readFailedEmails(runId: string, batch: number) {
    return (await this.#get<string[]>(`runs/${runId}/failed/${batch}`)) ?? [];
  }
  async addNotInActiveCampaign(runId: string, batch: number, emails: string[]) {
    const all = new Set([...(await this.readNotInActiveCampaign(runId, batch)), ...emails]);
    await this.#put(`runs/${runId}/notInActiveCampaign/${batch}`, [...all]);
  }
  async readNotInActiveCampaign(runId: string, batch: number) {
    return (await this.#get<string[]>(`runs/${runId}/notInActiveCampaign/${batch}`)) ?? [];
  }
  writeClears(runId: string, batch: number, clears: ValuesToClear[]) {
    return this.#put(`runs/${runId}/clears/${batch}`, clears);
  }
  async readClears(runId: string, batch: number) {
    return (await this.#get<ValuesToClear[]>(`runs/${runId}/clears/${batch}`)) ?? [];
  }
  writeRenames(runId: string, batch: number, renames: Rename[]) {
    return this.#put(`runs/${runId}/renames/${batch}`, renames);
  }
  async readRenames(runId: string, batch: number) {
    return (await this.#get<Rename[]>(`runs/${runId}/renames/${batch}`)) ?? [];
  }
  async addRenamed(runId: string, batch: number, emails: string[]) {
    const all = new Set([...(await this.readRenamed(runId, batch)), ...emails]);
    await this.#put(`runs/${runId}/renamed/${batch}`, [...all]);
  }
  async readRenamed(runId: string, batch: number) {
    return (await this.#get<string[]>(`runs/${runId}/renamed/${batch}`)) ?? [];
  }
  writeUntags(runId: string, batch: number, emails: string[]) {
    return this.#put(`runs/${runId}/untags/${batch}`, emails);
  }
  async readUntags(runId: string, batch: number) {
    return (await this.#get<string[]>(`runs/${runId}/untags/${batch}`)) ?? [];
  }
  writeReturners(runId: string, batch: number, returners: Returner[]) {
    return this.#put(`runs/${runId}/returners/${batch}`, returners);
  }
  async readReturners(runId: string, batch: number) {
    return (await this.#get<Returner[]>(`runs/${runId}/returners/${batch}`)) ?? [];
  }
  writeSample(runId: string, sample: unknown) {
    return this.#put(`runs/${runId}/sample`, sample);
  }
  rejectedRows(runId: string, options: { fresh?: boolean } = {}): Promise<RejectedRowsPort> {
    if (options.fresh || !this.rejected.has(runId)) this.rejected.set(runId, []);
    return Promise.resolve(new MemoryRejectedRows(this.rejected.get(runId)!));
  }
  rejectedPath(runId: string) {
    return `memory/runs/${runId}/rejected.csv`;
  }
  changes(runId: string): Promise<ChangesPort> {
    this.changed.set(runId, []);
    return Promise.resolve(new MemoryChanges(this.changed.get(runId)!));
  }
  changesPath(runId: string) {
    return `memory/runs/${runId}/changes.csv`;
  }
  samplePath(runId: string) {
    return `memory/runs/${runId}/sample.json`;
  }
  deleteWorkFiles(runId: string, keep: ReadonlySet<number> = new Set()): Promise<void> {
    for (const name of [...this.files.keys()]) {
      const m = new RegExp(`^runs/${runId}/(batches|returners|untags|renames|renamed|clears)/(\\d+)$`).exec(name);
      if (m && !keep.has(Number(m[2]))) this.files.delete(name);
    }
    return Promise.resolve();
  }
  deleteBatchFiles(runId: string, batch: number): Promise<void> {
    for (const folder of ['batches', 'returners']) this.files.delete(`runs/${runId}/${folder}/${batch}`);
    return Promise.resolve();
  }
  deleteRunsStartedBefore(before: number, max: number): Promise<number> {
    const runIds = new Set([...this.files.keys()].map((name) => name.split('/')[1]));
    let deleted = 0;
    for (const runId of runIds) {
      if (deleted >= max || runStartedAt(runId) >= before) continue;
      for (const name of [...this.files.keys()]) if (name.startsWith(`runs/${runId}/`)) this.files.delete(name);
      deleted++;
    }
    return Promise.resolve(deleted);
  }
}

export class MemoryExportState implements ExportStatePort {
  readonly committed = new Map<
    string,
    { pointer: StatePointer; entries: Map<string, number>; identities: Map<string, string> }
  >();
  readonly pending = new Map<string, Map<string, number>>();
  /** email → identity, of each pending state. */
  readonly pendingIdentities = new Map<string, Map<string, string>>();

  pointer(exportId: string): Promise<StatePointer | undefined> {
    return Promise.resolve(this.committed.get(exportId)?.pointer);
  }
  async load(pointer: StatePointer | undefined, table: EmailTable, range: EmailRange = ALL_EMAILS): Promise<void> {
    for await (const entries of this.entries(pointer, range))
      for (const [email, value] of entries) table.set(email, value);
  }
  /** Arrays of two, so that a reader's loop meets more than one array. */
  async *entries(pointer: StatePointer | undefined, range: EmailRange = ALL_EMAILS): AsyncIterable<StateEntry[]> {
    const state = [...this.committed.values()].find((c) => c.pointer.blob === pointer?.blob);
    const entries = [...(state?.entries ?? [])].filter(([email]) => EmailTable.inRange(email, range));
    for (let i = 0; i < entries.length; i += 2) yield await Promise.resolve(entries.slice(i, i + 2));
  }
  async *identities(pointer: StatePointer | undefined): AsyncIterable<[string, string]> {
    const state = [...this.committed.values()].find((c) => c.pointer.blob === pointer?.blob);
    for (const [email, identity] of state?.identities ?? []) yield await Promise.resolve([identity, email]);
  }
  pendingWriter(runId: string): Promise<StateWriterPort> {
    const entries = new Map<string, number>();
    const identities = new Map<string, string>();
    this.pending.set(runId, entries);
    this.pendingIdentities.set(runId, identities);
    return Promise.resolve({
      add: (email, value, identity) => {
        entries.set(email, value);
        if (identity) identities.set(email, identity);
        return undefined;
      },
      close: () => Promise.resolve(),
    });
  }
  async commit(exportId: string, runId: string, changes: StateChanges): Promise<StatePointer> {
    const entries = new Map<string, number>();
    const identities = new Map<string, string>();
    const pendingIdentities = this.pendingIdentities.get(runId) ?? new Map<string, string>();
    const add = (email: string, value: number) => Promise.resolve(void entries.set(email, value));
    for (const range of changes.ranges) {
      const changed = await changes.changesIn(range, add);
      for (const [email, value] of this.pending.get(runId) ?? []) {
        if (!EmailTable.inRange(email, range) || changed.isSeen(email)) continue;
        entries.set(email, changed.get(email) ?? value);
        const identity = pendingIdentities.get(email);
        if (identity) identities.set(email, identity);
      }
    }
    const pointer = {
      blob: `state/${exportId}/${runId}`,
      runId,
      contacts: entries.size,
      committedAt: new Date().toISOString(),
    };
    this.committed.set(exportId, { pointer, entries, identities });
    return pointer;
  }
}

export class MemorySnapshotChecks implements SnapshotChecksPort {
  readonly records = new Map<string, SnapshotCheckRecord>();
  /** Writes so far (a flood of events must not cost one each). */
  writes = 0;

  get(exportId: string): Promise<SnapshotCheckRecord | undefined> {
    const r = this.records.get(exportId);
    return Promise.resolve(r && { ...r });
  }
  async update(exportId: string, change: (record: SnapshotCheckRecord) => SnapshotCheckRecord | undefined) {
    const current = (await this.get(exportId)) ?? { exportId };
    const next = change({ ...current });
    if (!next) return { record: current, changed: false };
    this.writes++;
    this.records.set(exportId, { ...next });
    return { record: next, changed: true };
  }
  delete(exportId: string): Promise<void> {
    this.records.delete(exportId);
    return Promise.resolve();
  }
}

export class MemoryRecords<T extends { id: string }> implements RecordsPort<T> {
  readonly records = new Map<string, T>();
  constructor(...records: T[]) {
    for (const r of records) this.records.set(r.id, r);
  }
  get(id: string) {
    return Promise.resolve(this.records.get(id));
  }
  getCached(id: string) {
    return this.get(id);
  }
  list() {
    return Promise.resolve([...this.records.values()]);
  }
}

/** The run events the engine announced, in order. */
export class MemoryRunEvents implements RunEventsPort {
  readonly announced: { type: WebhookEventType; run: Run }[] = [];
  announce(type: WebhookEventType, run: Run): Promise<void> {
    this.announced.push({ type, run: structuredClone(run) });
    return Promise.resolve();
  }
}

/** The audit log in memory, newest first. */
export class MemoryAudit implements AuditPort {
  readonly entries: AuditEntry[] = [];
  add(entry: AuditEntry): Promise<void> {
    this.entries.unshift(entry);
    return Promise.resolve();
  }
  list(page: { top?: number } = {}) {
    return Promise.resolve({ entries: this.entries.slice(0, page.top ?? 50) });
  }
}

export interface MemoryEngine extends EngineDeps {
  runEvents: MemoryRunEvents;
  audit: MemoryAudit;
  erasures: { erasedEmailHashes(): Promise<Map<string, string>> };
  runs: MemoryRuns;
  queues: MemoryQueues;
  runFiles: MemoryRunFiles;
  exportState: MemoryExportState;
  snapshotChecks: MemorySnapshotChecks;
  exports: MemoryRecords<Export>;
  connections: MemoryRecords<Connection>;
  telemetry: LogTelemetry;
}

/**
 * The engine's dependencies in memory, talking to the ActiveCampaign emulator on loopback with
 * the app's own client (without the shared budget: its Table I/O is Azurite's to test).
 */
export function memoryEngine(emulator?: ActiveCampaignEmulator, settings: Record<string, string> = {}): MemoryEngine {
  const config: AppConfig = readConfig({
    ...(emulator ? { ACTIVECAMPAIGN_INSECURE_HOSTS: emulator.hostname } : {}),
    IMPORT_POLL_INTERVAL_SECONDS: '1',
    ...settings,
  });
  return {
    config,
    telemetry: new LogTelemetry(),
    runs: new MemoryRuns(),
    queues: new MemoryQueues(),
    runFiles: new MemoryRunFiles(),
    exportState: new MemoryExportState(),
    snapshotChecks: new MemorySnapshotChecks(),
    runEvents: new MemoryRunEvents(),
    audit: new MemoryAudit(),
    erasures: { erasedEmailHashes: () => Promise.resolve(new Map<string, string>()) },
    // Segment files are real files, read from Azurite by the tests that plan; here nothing listens (loopback).
    segments: { blobs: BlobServiceClient.fromConnectionString('UseDevelopmentStorage=true') },
    exports: new MemoryRecords<Export>(),
    connections: new MemoryRecords<Connection>(),
    activeCampaign: (connection) =>
      Promise.resolve(
        new ActiveCampaignClient(connection.hostname, EMULATOR_API_KEY, {
          insecureHosts: config.insecureHosts,
          timeoutInMs: config.activeCampaignTimeoutInMs,
        }),
      ),
  };
}

/**
 * Makes `method` of `port` throw as storage does when it is down: `times` calls in a row, after the
 * first `after` calls worked; then it works again.
 */
export function breakFor<T extends object, K extends keyof T>(
  port: T,
  method: K,
  times: number,
  options: { after?: number } = {},
): void {
  const original = port[method] as (...args: unknown[]) => unknown;
  let calls = 0;
  const from = options.after ?? 0;
  (port as Record<K, unknown>)[method] = (...args: unknown[]) => {
    const call = calls++;
    if (call >= from && call < from + times)
      return Promise.reject(new Error(`Storage is unavailable (${String(method)})`));
    return original.apply(port, args);
  };
}

/** A manual run that is sending (no plan unless given), as tests of the engine's workers start from. */
export function sendingRun(fields: Pick<RunRecord, 'runId' | 'exportId'> & Partial<RunRecord>): RunRecord {
  return {
    trigger: 'manual',
    status: 'sending',
    counts: emptyCounts(),
    startedAt: new Date().toISOString(),
    dryRun: false,
    fullSync: false,
    batches: { total: fields.plan?.batches ?? 0, done: 0 },
    ...fields,
  };
}
