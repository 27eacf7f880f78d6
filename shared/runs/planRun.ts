import type { ImportContact } from '../activecampaign/client.js';
import { TERMINAL_STATUSES, type Export, type Run } from '../model.js';
import { locateSnapshot } from '../segments/snapshot.js';
import { readSegmentFile } from '../segments/readRows.js';
import { SegmentError } from '../segments/segmentError.js';
import type { AppServices } from '../services.js';
import { ImportBatcher } from '../sync/batching.js';
import { mapRecord, MappingError, resolveMapping, type ResolvedMapping } from '../sync/mapping.js';
import { QUEUES } from '../store/workQueues.js';
import type { BatchMessage } from './messages.js';
import { cancelRun, failRun, finalizeRun } from './runLifecycle.js';
import type { RejectedRowsWriter } from '../store/runFiles.js';

/** How many batch writes (blob, table entity, queue message) the planner keeps in flight. */
const PLANNER_CONCURRENCY = 16;
/** How often (in batches) the planner looks whether the run was cancelled. */
const CANCEL_CHECK_EVERY = 50;

export interface PlanResult {
  run: Run;
}

/**
 * The planner: locate → read → map and validate → dedupe → batch → enqueue. Streams the snapshot
 * once with bounded memory (the dedupe set grows with distinct emails, not with rows). A
 * structural problem fails the run before any batch is enqueued; batches are only enqueued once
 * the whole snapshot has been read and validated.
 */
export async function planRun(svc: AppServices, exportId: string, runId: string, log: (m: string) => void = () => {}): Promise<Run | undefined> {
  const { run, changed } = await svc.runs.updateRun(exportId, runId, (r) =>
    r.status === 'queued' || r.status === 'planning' ? { ...r, status: 'planning' } : undefined,
  );
  if (!changed) return run; // already planned, or ended: a redelivered message does nothing
  const exp = await svc.exports.get(exportId);
  if (!exp) return cancelRun(svc, exportId, runId, 'The export was deleted');

  try {
    return await plan(svc, exp, run, log);
  } catch (error) {
    if (error instanceof SegmentError || error instanceof MappingError) {
      log(`Run ${runId} failed: ${error.message}`);
      return failRun(svc, exportId, runId, error.message);
    }
    throw error;
  }
}

async function plan(svc: AppServices, exp: Export, run: Run, log: (m: string) => void): Promise<Run | undefined> {
  const snapshot = await locateSnapshot(svc.segments.blobs, exp.source);
  log(`Run ${run.runId}: snapshot ${snapshot.id} (${snapshot.layout}, ${snapshot.segmentFiles.length} file(s))`);
  const rejectedRows = await svc.runFiles.rejectedRows(run.runId);
  const counts = { read: 0, rejected: 0, duplicate: 0, unchanged: 0 };
  const seen = new Set<string>();
  const batcher = new ImportBatcher();
  // Pass 1 validates the whole snapshot and writes payload blobs; nothing is enqueued until it
  // has succeeded, so a corrupt last file cannot leave half a segment sent.
  const pending = new Pool(PLANNER_CONCURRENCY);
  const batches: { batch: number; contacts: number }[] = [];
  const writeBatch = (contacts: ImportContact[]) => {
    const batch = batches.length + 1;
    batches.push({ batch, contacts: contacts.length });
    return pending.run(async () => {
      await svc.runFiles.writeBatch(run.runId, batch, contacts);
      await svc.runs.createBatch({
        runId: run.runId, batch, status: 'pending', contacts: contacts.length, unsubscribes: 0,
        attempts: 0, resubmits: 0, rejected: 0, upserted: 0, unsubscribed: 0, failed: 0, counted: false,
      });
    });
  };
  const subscribe = [{ listid: String(exp.listId) }];
  const sample: ImportContact[] = [];

  for (const file of snapshot.segmentFiles) {
    let resolved: ResolvedMapping | undefined;
    if (file.columns) resolved = resolveMapping(exp.mapping, file.columns, `${file.container}/${file.name}`);
    for await (const row of readSegmentFile(svc.segments.blobs, file)) {
      resolved ??= resolveMapping(exp.mapping, Object.keys(row.record), row.file);
      counts.read++;
      const mapped = mapRecord(row.record, resolved);
      if (!mapped.contact) {
        counts.rejected++;
        await rejectedRows.add({ file: row.file, row: row.row, email: row.record[resolved.email] ?? '', reason: mapped.reason });
        continue;
      }
      const contact = mapped.contact;
      // The first row of an email wins; later ones are counted as duplicates.
      if (seen.has(contact.email)) {
        counts.duplicate++;
        continue;
      }
      seen.add(contact.email);
      contact.subscribe = subscribe;
      if (!batcher.fits(contact)) {
        counts.rejected++;
        await rejectedRows.add({ file: row.file, row: row.row, email: contact.email, reason: 'contact larger than an import request allows' });
        continue;
      }
      if (sample.length < 10) sample.push(contact);
      const full = batcher.add(contact);
      if (full && !run.dryRun) await writeBatch(full.contacts);
      else if (full) batches.push({ batch: batches.length + 1, contacts: full.contacts.length });
      if (batches.length % CANCEL_CHECK_EVERY === 0 && full && (await isEnded(svc, run))) return svc.runs.getRun(run.exportId, run.runId);
    }
  }
  const last = batcher.flush();
  if (last && !run.dryRun) await writeBatch(last.contacts);
  else if (last) batches.push({ batch: batches.length + 1, contacts: last.contacts.length });
  await pending.drain();
  await rejectedRows.flush();
  if (counts.read === 0) throw new SegmentError(`The snapshot at ${exp.source.container}/${exp.source.path} has no rows (empty snapshot)`);
  log(`Run ${run.runId}: read ${counts.read}, rejected ${counts.rejected}, duplicate ${counts.duplicate}, ${batches.length} batch(es)`);

  if (run.dryRun) return finishDryRun(svc, run, snapshot, counts, batches, sample, rejectedRows);

  const { run: sending, changed } = await svc.runs.updateRun(run.exportId, run.runId, (r) =>
    r.status !== 'planning'
      ? undefined
      : {
          ...r,
          status: 'sending',
          snapshot: { id: snapshot.id, files: snapshot.files },
          counts: { ...r.counts, ...counts },
          rejectedRows: rejectedRows.count > 0 ? svc.runFiles.rejectedPath(run.runId) : undefined,
          batches: { total: batches.length, done: r.batches.done },
        },
  );
  if (!changed) return sending; // cancelled while planning
  const enqueue = new Pool(PLANNER_CONCURRENCY);
  for (const b of batches) {
    await enqueue.run(() => svc.queues.send(QUEUES.batches, { exportId: run.exportId, runId: run.runId, batch: b.batch } satisfies BatchMessage));
  }
  await enqueue.drain();
  // No batch at all (everything rejected or unchanged): the run ends here.
  if (batches.length === 0) return finalizeRun(svc, run.exportId, run.runId);
  return sending;
}

async function finishDryRun(
  svc: AppServices,
  run: Run,
  snapshot: { id: string; files: { name: string; etag: string }[] },
  counts: { read: number; rejected: number; duplicate: number; unchanged: number },
  batches: { contacts: number }[],
  sample: ImportContact[],
  rejectedRows: RejectedRowsWriter,
): Promise<Run> {
  const wouldSend = batches.reduce((n, b) => n + b.contacts, 0);
  await svc.runFiles.container
    .getBlockBlobClient(`runs/${run.runId}/sample.json`)
    .upload(JSON.stringify({ contacts: sample }, null, 2), Buffer.byteLength(JSON.stringify({ contacts: sample }, null, 2)));
  const { run: done } = await svc.runs.updateRun(run.exportId, run.runId, (r) =>
    TERMINAL_STATUSES.has(r.status)
      ? undefined
      : {
          ...r,
          status: counts.rejected > 0 ? 'completedWithErrors' : 'completed',
          snapshot: { id: snapshot.id, files: snapshot.files },
          counts: { ...r.counts, ...counts, upserted: wouldSend },
          rejectedRows: rejectedRows.count > 0 ? svc.runFiles.rejectedPath(run.runId) : undefined,
          batches: { total: batches.length, done: 0 },
          finishedAt: new Date().toISOString(),
        },
  );
  return done;
}

async function isEnded(svc: AppServices, run: Run): Promise<boolean> {
  const current = await svc.runs.getRun(run.exportId, run.runId);
  return !current || TERMINAL_STATUSES.has(current.status);
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
