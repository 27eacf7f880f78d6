import type { ImportContact } from '../activecampaign/client.js';
import { TERMINAL_STATUSES, type Export, type Run, type RunCounts } from '../model.js';
import { readSegmentFile } from '../segments/readRows.js';
import { SegmentError } from '../segments/segmentError.js';
import { locateSnapshot, type Snapshot } from '../segments/snapshot.js';
import type { AppServices } from '../services.js';
import type { RejectedRowsWriter } from '../store/runFiles.js';
import { QUEUES } from '../store/workQueues.js';
import { ImportBatcher } from '../sync/batching.js';
import { fingerprint } from '../sync/fingerprint.js';
import { mapRecord, MappingError, resolveMapping, type ResolvedMapping } from '../sync/mapping.js';
import { EmailTable } from '../sync/emailTable.js';
import { SYNC_MODES } from '../sync/syncModes.js';
import type { StateWriter } from './exportState.js';
import type { BatchMessage } from './messages.js';
import { cancelRun, enqueueWatch, failRun, finalizeRun, reportRunFinished } from './runLifecycle.js';

/** How many batch writes (blob and table entity, or queue message) the planner keeps in flight. */
const PLANNER_CONCURRENCY = 16;
/** How often (in batches) the planner looks whether the run was cancelled. */
const CANCEL_CHECK_EVERY = 50;
/**
 * Batches per queue message, up to eight (a million contacts are 500 messages, not 4,000), but
 * never so few messages that a few instances take the whole run off the queue in their first receives.
 */
const MAX_BATCHES_PER_MESSAGE = 8;
const MIN_MESSAGES = 128;
/** Contacts a dry run keeps as a sample of what it would send. */
const SAMPLE_SIZE = 20;

type PlanCounts = Pick<RunCounts, 'read' | 'rejected' | 'duplicate' | 'unchanged'>;

interface PlannedBatch {
  batch: number;
  contacts: number;
  unsubscribes: number;
}

/**
 * The planner: locate → read → map and validate → dedupe → diff → batch → enqueue. It streams
 * the snapshot once; memory grows with distinct emails (dedupe and the previous state), not with
 * rows. Batch payloads are written as it goes, but nothing is enqueued until the whole snapshot
 * has been read: a structural problem anywhere fails the run with nothing sent.
 */
export async function planRun(svc: AppServices, exportId: string, runId: string, log: (m: string) => void = () => {}): Promise<Run | undefined> {
  const { run, changed } = await svc.runs.updateRun(exportId, runId, (r) =>
    r.status === 'queued' || r.status === 'planning' ? { ...r, status: 'planning' } : undefined,
  );
  if (!changed) return run; // already planned, or ended: a redelivered message does nothing
  const exp = await svc.exports.get(exportId);
  if (!exp) return cancelRun(svc, exportId, runId, 'The export was deleted');
  try {
    return await new Planner(svc, exp, run, log).plan();
  } catch (error) {
    if (error instanceof SegmentError || error instanceof MappingError) {
      log(`Run ${runId} failed: ${error.message}`);
      return failRun(svc, exportId, runId, error.message);
    }
    throw error;
  }
}

class Planner {
  readonly counts: PlanCounts = { read: 0, rejected: 0, duplicate: 0, unchanged: 0 };
  readonly batches: PlannedBatch[] = [];
  readonly sample: ImportContact[] = [];
  readonly #batcher = new ImportBatcher();
  readonly #writes: Pool;
  #rejected!: RejectedRowsWriter;
  #pendingState?: StateWriter;

  constructor(
    readonly svc: AppServices,
    readonly exp: Export,
    readonly run: Run,
    readonly log: (m: string) => void,
  ) {
    this.#writes = new Pool(PLANNER_CONCURRENCY);
  }

  async plan(): Promise<Run | undefined> {
    const { svc, exp, run } = this;
    const snapshot = await locateSnapshot(svc.segments.blobs, exp.source);
    this.log(`Run ${run.runId}: snapshot ${snapshot.id} (${snapshot.layout}, ${snapshot.segmentFiles.length} file(s))`);
    this.#rejected = await svc.runFiles.rejectedRows(run.runId, { fresh: true });
    const previous = await svc.exportState.load(exp.id);
    if (!run.dryRun) this.#pendingState = await svc.exportState.pendingWriter(run.runId);

    const seen = new EmailTable(previous.size);
    const cancelled = await this.#readSnapshot(snapshot, previous, seen);
    if (cancelled) return svc.runs.getRun(exp.id, run.runId);
    if (SYNC_MODES[exp.mode].unsubscribeLeavers && previous.size > 0) {
      // Contacts of the previous state that this snapshot does not have were sent before and left.
      const unsubscribe = [{ listid: String(exp.listId) }];
      for await (const email of svc.exportState.emails(exp.id)) if (!seen.has(email)) await this.#add({ email, unsubscribe });
    }
    await this.#flushBatch(this.#batcher.flush());
    await this.#writes.drain();
    await this.#rejected.flush();
    await this.#pendingState?.close();
    if (this.counts.read === 0) throw new SegmentError(`The snapshot at ${exp.source.container}/${exp.source.path} has no rows (empty snapshot)`);
    const c = this.counts;
    this.log(`Run ${run.runId}: read ${c.read}, rejected ${c.rejected}, duplicate ${c.duplicate}, unchanged ${c.unchanged}, ${this.batches.length} batch(es)`);
    return run.dryRun ? this.#finishDryRun(snapshot) : this.#enqueue(snapshot);
  }

  /** Returns true when the run was cancelled while reading. */
  async #readSnapshot(snapshot: Snapshot, previous: EmailTable, seen: EmailTable): Promise<boolean> {
    const { exp, run } = this;
    const subscribe = [{ listid: String(exp.listId) }];
    for (const file of snapshot.segmentFiles) {
      let resolved: ResolvedMapping | undefined = file.columns ? resolveMapping(exp.mapping, file.columns, `${file.container}/${file.name}`) : undefined;
      for await (const row of readSegmentFile(this.svc.segments.blobs, file)) {
        resolved ??= resolveMapping(exp.mapping, Object.keys(row.record), row.file);
        this.counts.read++;
        const mapped = mapRecord(row.record, resolved);
        if (!mapped.contact) {
          await this.#reject(row.file, row.row, row.record[resolved.email] ?? '', mapped.reason);
          continue;
        }
        const contact = mapped.contact;
        // The first row of an email wins; later ones are counted as duplicates.
        if (seen.has(contact.email)) {
          this.counts.duplicate++;
          continue;
        }
        seen.set(contact.email, 1);
        const sentBefore = previous.get(contact.email);
        if (!this.#batcher.fits(contact)) {
          await this.#reject(row.file, row.row, contact.email, 'contact larger than an import request allows');
          continue;
        }
        const print = fingerprint(contact, exp.listId);
        await this.#pendingState?.add(contact.email, print);
        if (!run.fullSync && sentBefore === parseInt(print, 16)) {
          this.counts.unchanged++;
          continue;
        }
        contact.subscribe = subscribe;
        if ((await this.#add(contact)) && this.batches.length % CANCEL_CHECK_EVERY === 0 && (await this.#isEnded())) return true;
      }
    }
    return false;
  }

  /** Adds a contact to the current batch; true when that completed a batch. */
  async #add(contact: ImportContact): Promise<boolean> {
    if (this.sample.length < SAMPLE_SIZE) this.sample.push(contact);
    const full = this.#batcher.add(contact);
    await this.#flushBatch(full);
    return full !== undefined;
  }

  async #flushBatch(full: { contacts: ImportContact[] } | undefined): Promise<void> {
    if (!full) return;
    const planned: PlannedBatch = {
      batch: this.batches.length + 1,
      contacts: full.contacts.length,
      unsubscribes: full.contacts.filter((c) => c.unsubscribe).length,
    };
    this.batches.push(planned);
    if (this.run.dryRun) return;
    const { runId } = this.run;
    await this.#writes.run(async () => {
      await this.svc.runFiles.writeBatch(runId, planned.batch, full.contacts);
      await this.svc.runs.createBatch({
        runId, batch: planned.batch, status: 'pending', contacts: planned.contacts, unsubscribes: planned.unsubscribes,
        attempts: 0, resubmits: 0, rejected: 0, upserted: 0, unsubscribed: 0, failed: 0, counted: false,
      });
    });
  }

  async #reject(file: string, row: number, email: string, reason: string): Promise<void> {
    this.counts.rejected++;
    await this.#rejected.add({ file, row, email, reason });
  }

  async #isEnded(): Promise<boolean> {
    const current = await this.svc.runs.getRun(this.exp.id, this.run.runId);
    return !current || TERMINAL_STATUSES.has(current.status);
  }

  #snapshotFields(snapshot: Snapshot): Partial<Run> {
    return {
      snapshot: { id: snapshot.id, files: snapshot.files },
      rejectedRows: this.#rejected.count > 0 ? this.svc.runFiles.rejectedPath(this.run.runId) : undefined,
    };
  }

  async #enqueue(snapshot: Snapshot): Promise<Run | undefined> {
    const { svc, exp, run } = this;
    const { run: sending, changed } = await svc.runs.updateRun(exp.id, run.runId, (r) =>
      r.status !== 'planning'
        ? undefined
        : { ...r, ...this.#snapshotFields(snapshot), status: 'sending', counts: { ...r.counts, ...this.counts }, batches: { total: this.batches.length, done: r.batches.done } },
    );
    if (!changed) return sending; // cancelled while planning
    const enqueue = new Pool(PLANNER_CONCURRENCY);
    const perMessage = Math.min(MAX_BATCHES_PER_MESSAGE, Math.max(1, Math.ceil(this.batches.length / MIN_MESSAGES)));
    for (let i = 0; i < this.batches.length; i += perMessage) {
      const group = this.batches.slice(i, i + perMessage).map((b) => b.batch);
      const message: BatchMessage = { exportId: exp.id, runId: run.runId, batch: group[0], batches: group };
      await enqueue.run(() => svc.queues.send(QUEUES.batches, message));
    }
    await enqueue.drain();
    // No batch at all (nothing new, changed or left): the run ends here.
    if (this.batches.length === 0) return finalizeRun(svc, exp.id, run.runId);
    await enqueueWatch(svc, exp.id, run.runId);
    return sending;
  }

  /** A dry run counts what it would send and keeps a sample of the payloads; nothing is sent or committed. */
  async #finishDryRun(snapshot: Snapshot): Promise<Run> {
    const { svc, exp, run } = this;
    const wouldUpsert = this.batches.reduce((n, b) => n + b.contacts - b.unsubscribes, 0);
    const wouldUnsubscribe = this.batches.reduce((n, b) => n + b.unsubscribes, 0);
    const sample = JSON.stringify({ contacts: this.sample, batches: this.batches.length, wouldUpsert, wouldUnsubscribe }, null, 2);
    await (await svc.runFiles.ready()).getBlockBlobClient(`runs/${run.runId}/sample.json`).upload(sample, Buffer.byteLength(sample));
    const { run: done, changed } = await svc.runs.updateRun(exp.id, run.runId, (r) =>
      TERMINAL_STATUSES.has(r.status)
        ? undefined
        : {
            ...r,
            ...this.#snapshotFields(snapshot),
            status: this.counts.rejected > 0 ? 'completedWithErrors' : 'completed',
            counts: { ...r.counts, ...this.counts, upserted: wouldUpsert, unsubscribed: wouldUnsubscribe },
            payloadSample: svc.runFiles.samplePath(run.runId),
            batches: { total: this.batches.length, done: 0 },
            finishedAt: new Date().toISOString(),
          },
    );
    if (changed) reportRunFinished(svc, done);
    return done;
  }
}

/** At most `size` promises in flight; `run` waits for room, `drain` for all. Errors surface. */
class Pool {
  #inFlight = new Set<Promise<void>>();
  #error: unknown;
  constructor(readonly size: number) {}

  async run(task: () => Promise<unknown>): Promise<void> {
    if (this.#error) throw this.#error;
    while (this.#inFlight.size >= this.size) await Promise.race(this.#inFlight);
    if (this.#error) throw this.#error;
    const p: Promise<void> = task().then(
      () => void this.#inFlight.delete(p),
      (e) => {
        this.#inFlight.delete(p);
        this.#error ??= e;
      },
    );
    this.#inFlight.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.#inFlight);
    if (this.#error) throw this.#error;
  }
}
