import { emailHash } from '../erasures/erasureModel.js';
import type { ImportContact } from '../activecampaign/client.js';
import { AuthenticationError } from '../activecampaign/errors.js';
import { emptyCounts, TERMINAL_STATUSES, type Export, type Run } from '../model.js';
import { Pool } from '../pool.js';
import { readSegmentRows, sampleRowBytes } from '../segments/readSegmentFile.js';
import { SegmentError, SnapshotNotReadyError } from '../segments/segmentError.js';
import { locateSnapshot, snapshotRef, type Snapshot } from '../segments/snapshot.js';
import { ImportBatcher } from '../sync/batching.js';
import { decideContact, decideLeaver, unsubscribedAt } from '../sync/delta.js';
import { checkEmail } from '../sync/email.js';
import { ALL_EMAILS, EmailTable, type EmailRange } from '../sync/emailTable.js';
import { fingerprint } from '../sync/fingerprint.js';
import { mappedColumns, mapRecord, MappingError, resolveMapping, type ResolvedMapping } from '../sync/mapping.js';
import { checkRemovals, removalGuardMessage, removalsBlocked } from '../sync/removalGuard.js';
import { PlanPasses, snapshotRowsBound, type PlanPass } from '../sync/planPasses.js';
import { SYNC_MODES } from '../sync/syncModes.js';
import { keyRefusedMessage } from './batchOutcome.js';
import { FAILURE_LIMITS } from './failurePolicy.js';
import type { ChangesPort, EngineDeps, RejectedRowsPort, StatePointer, StateWriterPort } from './ports.js';
import { runCounts, sumBatches } from './runCounts.js';
import { endRun, finalizeRun, publishRunEnd, type LifecycleDeps } from './runLifecycle.js';
import {
  pendingBatch,
  type ContactChange,
  type PlannedCounts,
  type PlanSummary,
  type Rename,
  type Returner,
  type RunRecord,
  type ValuesToClear,
} from './runModel.js';
import type { PlanMessage } from './runQueues.js';
import { batchesPerMessage, ENQUEUE_CONCURRENCY, startSendingBatches } from './sendWindow.js';

export type PlanDeps = LifecycleDeps &
  Pick<EngineDeps, 'exports' | 'segments' | 'connections' | 'activeCampaign' | 'erasures'>;

/** How often the planner shows its counts (and proves it is alive), and looks whether the run was cancelled. */
const HEARTBEAT_IN_MS = 1_000;
/** A run whose snapshot stays incomplete this long after it started fails. */
const MAX_SNAPSHOT_WAIT_IN_MS = 60 * 60_000;
/** Contacts a dry run keeps as a sample of what it would send. */
const SAMPLE_SIZE = 20;
/** Leavers per untag batch: each costs a look-up, a read of its tags and a removal per tag. */
const UNTAGS_PER_BATCH = 250;
/** Distinct rejection reasons kept in the plan (the rejected rows have every one). */
const MAX_REASONS = 20;

/**
 * The planner, on the plan queue. A run that is queued (or whose planner died) is planned; a run
 * that is sending has been planned and only needs its messages enqueued: a redelivered plan message
 * finishes what the first one started.
 */
export async function planRun(
  deps: PlanDeps,
  message: PlanMessage,
  log: (m: string) => void = () => {},
): Promise<void> {
  const { exportId, runId } = message;
  const run = await deps.runs.getRun(exportId, runId);
  if (!run || TERMINAL_STATUSES.has(run.status)) return;
  if (run.status === 'sending') return startSendingBatches(deps, run, log);
  const silentFor = Date.now() - Date.parse(run.lastProgressAt ?? run.startedAt);
  if (run.status === 'planning' && silentFor < FAILURE_LIMITS.plannerSilentInMs) {
    // Another planner is at work (a duplicate message): look again once it would be taken for dead.
    await deps.queues.plan(message, FAILURE_LIMITS.plannerSilentInMs);
    return;
  }
  const exp = await deps.exports.get(exportId);
  if (!exp) {
    await endRun(deps, exportId, runId, 'cancelled', 'The export was deleted');
    return;
  }
  let snapshot: Snapshot;
  try {
    snapshot = await locateSnapshot(deps.segments.blobs, exp.source, {
      allowedContainers: deps.config.segmentsContainers,
      quietPeriodInMs: deps.config.snapshotQuietPeriodInMs,
    });
  } catch (error) {
    if (error instanceof SnapshotNotReadyError && Date.now() - Date.parse(run.startedAt) < MAX_SNAPSHOT_WAIT_IN_MS) {
      log(`Run ${runId} waits for its snapshot: ${error.message}`);
      await deps.queues.plan(message, error.retryAfterInMs);
      return;
    }
    if (error instanceof SegmentError) {
      await endRun(deps, exportId, runId, 'failed', error.message, { planned: run.counts });
      return;
    }
    throw error;
  }
  if (!run.dryRun && (await keyRefused(deps, exp, runId, snapshot))) return;
  const { changed, run: planning } = await deps.runs.updateRun(exportId, runId, (r) =>
    r.status === 'queued' || r.status === 'planning'
      ? { ...r, status: 'planning', lastProgressAt: new Date().toISOString() }
      : undefined,
  );
  if (!changed) return;
  const planner = new Planner(deps, exp, planning, snapshot, log);
  try {
    await planner.plan();
  } catch (error) {
    if (error instanceof SegmentError || error instanceof MappingError) {
      log(`Run ${runId} failed: ${error.message}`);
      // The snapshot is kept on the run: the scheduled refresh backs off from a snapshot that keeps failing.
      await endRun(deps, exportId, runId, 'failed', error.message, {
        planned: planner.counts,
        fields: { snapshot: snapshotRef(snapshot) },
      });
      return;
    }
    throw error;
  }
}

/**
 * A run whose key ActiveCampaign refuses fails before it plans: planning ten million rows takes half
 * an hour, and every batch would be refused. One cheap read, without waiting for the budget; any
 * other trouble (busy, slow, unreachable) is left to the batches, which know how to wait.
 */
async function keyRefused(deps: PlanDeps, exp: Export, runId: string, snapshot: Snapshot): Promise<boolean> {
  const connection = await deps.connections.get(exp.connectionId);
  if (!connection) return false;
  try {
    await (await deps.activeCampaign(connection)).getCurrentUser({ patienceInMs: 0 });
    return false;
  } catch (error) {
    if (!(error instanceof AuthenticationError)) return false;
    await endRun(deps, exp.id, runId, 'failed', keyRefusedMessage(connection, error), {
      errorCode: 'KeyRefused',
      fields: { snapshot: snapshotRef(snapshot) },
    });
    return true;
  }
}

interface PlannedBatch {
  batch: number;
  contacts: number;
  unsubscribes: number;
  returners: Returner[];
  /** Leavers whose export tags are removed (an untag batch, which imports nothing). */
  untags: number;
  renames: Rename[];
  clears: ValuesToClear[];
}

/**
 * locate → read → map and validate → dedupe → diff → guard → batch → enqueue. It streams the
 * snapshot; memory grows with distinct emails (one compact table for dedupe and the previous
 * state), not with rows, and never past PLANNER_EMAILS_PER_PASS: more are read in passes, one range
 * of the email hash each (sync/planPasses.ts). Batch payloads are written as it goes, but nothing is enqueued until the
 * whole snapshot has been read and the removal guard passed: a structural problem anywhere, or a
 * shrunken segment, fails the run with nothing sent.
 */
class Planner {
  readonly counts: PlannedCounts = { read: 0, rejected: 0, duplicate: 0, unchanged: 0 };
  readonly rejectedReasons: Record<string, number> = {};
  readonly batches: PlannedBatch[] = [];
  readonly sample: ImportContact[] = [];
  readonly #batcher = new ImportBatcher();
  readonly #writes = new Pool(ENQUEUE_CONCURRENCY);
  #returners: Returner[] = [];
  #rejected!: RejectedRowsPort;
  #changes!: ChangesPort;
  /** Hashes of erased emails (with when); contacts new to the export are looked up in it. */
  #erased = new Map<string, string>();
  /** Erased people this snapshot holds again: how many, and the earliest erasure. */
  readonly #erasedAgain = { count: 0, since: '' };
  /** What the run does to each contact waiting in the batch being filled. */
  readonly #changeOf = new Map<string, ContactChange>();
  #pendingState?: StateWriterPort;
  /** Leavers waiting for an untag batch (removeTagsWhenLeaving). */
  #untags: string[] = [];
  /** mapping.identity: the committed state's identities (identity → email). */
  #identities = new Map<string, string>();
  /** Contacts new to the export whose identity the state holds under another email: decided once all rows are read. */
  readonly #maybeRenamed: { contact: ImportContact; identity: string; from: string }[] = [];
  /** New email → old one, of the email changes this run makes; old email → identity. */
  readonly #renames = new Map<string, string>();
  readonly #renamedFrom = new Map<string, string>();
  /** mapping.emptyValues: the fields to clear, and each contact's in the batch being filled whose values emptied. */
  #toClear: string[] = [];
  readonly #clearsOf = new Map<string, string[]>();
  #lastBeat = Date.now();

  constructor(
    readonly deps: PlanDeps,
    readonly exp: Export,
    readonly run: RunRecord,
    readonly snapshot: Snapshot,
    readonly log: (m: string) => void,
  ) {}

  async plan(): Promise<void> {
    const { deps, exp, run, snapshot } = this;
    this.log(`Run ${run.runId}: snapshot ${snapshot.id} (${snapshot.layout}, ${snapshot.segmentFiles.length} file(s))`);
    this.#rejected = await deps.runFiles.rejectedRows(run.runId, { fresh: true });
    this.#changes = await deps.runFiles.changes(run.runId);
    this.#erased = await deps.erasures.erasedEmailHashes();
    const previous = await deps.exportState.pointer(exp.id);
    this.#toClear = Object.entries(exp.mapping.emptyValues ?? {})
      .filter(([, rule]) => rule === 'clear')
      .map(([field]) => field);
    if (exp.mapping.identity)
      for await (const [identity, email] of deps.exportState.identities(previous))
        this.#identities.set(identity, email);
    if (!run.dryRun) this.#pendingState = await deps.exportState.pendingWriter(run.runId);
    const sampled = await Promise.all(
      snapshot.segmentFiles.map(async (f) => ({ ...f, rowBytes: await sampleRowBytes(deps.segments.blobs, f) })),
    );
    const passes = new PlanPasses(
      deps.config.plannerEmailsPerPass,
      (previous?.contacts ?? 0) + snapshotRowsBound(sampled, deps.config.snapshotMaxRows),
    );
    const leavers = { unsubscribes: 0, lastSent: 0 };
    let pass: PlanPass | undefined = passes.first();
    // One table for every pass: a second one would be held until the collector frees the first.
    const emails = new EmailTable(pass.capacity);
    for (let n = 1; pass; n++) {
      if (pass.range !== ALL_EMAILS)
        this.log(
          `Run ${run.runId}: pass ${n}, emails whose hash is in [${pass.range.start}, ${pass.range.end}) of 2^32`,
        );
      if (exp.mapping.identity && pass.range !== ALL_EMAILS)
        throw new SegmentError(
          `An export that follows an identity column plans in one pass: this one has more than PLANNER_EMAILS_PER_PASS (${deps.config.plannerEmailsPerPass}) emails; nothing was sent`,
        );
      emails.reset(pass.capacity);
      await deps.exportState.load(previous, emails, pass.range);
      if (await this.#readSnapshot(emails, pass.range, n === 1)) return;
      await this.#settleRenames(emails);
      if (n === 1 && this.counts.read === 0)
        throw new SegmentError(
          `The snapshot at ${exp.source.container}/${exp.source.path} has no rows (empty snapshot)`,
        );
      if (previous) {
        const found = await this.#leavers(previous, emails, pass.range);
        leavers.unsubscribes += found.unsubscribes;
        leavers.lastSent += found.lastSent;
      }
      pass = passes.next(pass.range, emails.size);
    }
    const removals = SYNC_MODES[exp.mode].unsubscribeLeavers ? leavers : undefined;
    await this.#flushBatch(this.#batcher.flush());
    await this.#flushUntags();
    await this.#writes.drain();
    await this.#rejected.flush();
    await this.#changes.flush();
    await this.#pendingState?.close();
    const c = this.counts;
    this.log(
      `Run ${run.runId}: read ${c.read}, rejected ${c.rejected}, duplicate ${c.duplicate}, unchanged ${c.unchanged}, ${this.batches.length} batch(es)`,
    );
    const check =
      removals &&
      checkRemovals({ ...removals, snapshotId: this.snapshot.id }, exp.removalGuardPercent, run.confirmation);
    if (run.dryRun) return this.#finishDryRun(check);
    if (check && removalsBlocked(check)) {
      const message = removalGuardMessage(check, {
        runId: run.runId,
        confirmation: run.confirmation,
        snapshotId: this.snapshot.id,
      });
      this.log(`Run ${run.runId}: ${message}`);
      await endRun(deps, exp.id, run.runId, 'failed', message, {
        planned: this.counts,
        errorCode: 'RemovalGuard',
        fields: { removals: check, ...this.#snapshotFields() },
      });
      return;
    }
    await this.#startSending(check);
  }

  /**
   * Reads the snapshot for the contacts whose email is in `range` (a pass); the first pass counts
   * every row and rejects the rows without a valid email. Returns true when the run ended (was
   * cancelled) while reading.
   */
  async #readSnapshot(emails: EmailTable, range: EmailRange, firstPass: boolean): Promise<boolean> {
    const { exp, run, deps } = this;
    const subscribe = [{ listid: String(exp.listId) }];
    const context = { tags: exp.tags, fieldTypes: exp.fieldTypes };
    // Columnar files decode only what the mapping reads.
    const columns = mappedColumns(exp.mapping);
    for (const file of this.snapshot.segmentFiles) {
      let resolved: ResolvedMapping | undefined = file.columns
        ? resolveMapping(exp.mapping, file.columns, `${file.container}/${file.name}`)
        : undefined;
      for await (const chunk of readSegmentRows(deps.segments.blobs, file, { columns })) {
        if (firstPass && (this.counts.read += chunk.length) > deps.config.snapshotMaxRows) {
          throw new SegmentError(
            `The snapshot has more than ${deps.config.snapshotMaxRows} rows, the most an export may have (SNAPSHOT_MAX_ROWS); nothing was sent`,
          );
        }
        if (await this.#heartbeat()) return true;
        // Only a row that changes something awaits: an unchanged row costs no promise.
        for (const row of chunk) {
          resolved ??= resolveMapping(exp.mapping, Object.keys(row.record), row.file);
          if (range !== ALL_EMAILS) {
            const { email } = checkEmail(row.record[resolved.email]);
            if (email === undefined ? !firstPass : !EmailTable.inRange(email, range)) continue;
          }
          const mapped = mapRecord(row.record, resolved, context);
          if (!mapped.contact) {
            await this.#reject(row.file, row.row, row.record[resolved.email] ?? '', mapped.reason, mapped.category);
            continue;
          }
          const { contact, identity } = mapped;
          // The first row of an email wins; later ones are counted as duplicates.
          const visit = emails.visit(contact.email);
          if (visit.duplicate) {
            this.counts.duplicate++;
            continue;
          }
          const { previous } = visit;
          const print = fingerprint(contact, exp.listId);
          const decision = decideContact(previous, print, run.fullSync);
          // What an earlier run sent fitted then: only a contact that is sent is measured, with its list as sent.
          let size: number | undefined;
          if (decision !== 'unchanged') {
            contact.subscribe = subscribe;
            size = this.#batcher.measure(contact);
            if (size === undefined) {
              await this.#reject(
                row.file,
                row.row,
                contact.email,
                'contact larger than an import request allows',
                'contact larger than an import request allows',
              );
              continue;
            }
          }
          const full = this.#pendingState?.add(contact.email, print, identity);
          if (full) await full;
          if (decision === 'unchanged') {
            this.counts.unchanged++;
            continue;
          }
          const from = identity === undefined ? undefined : this.#identities.get(identity);
          if (decision === 'new' && from !== undefined && from !== contact.email) {
            // The same person under a new email, unless the snapshot still holds the old one too.
            this.#maybeRenamed.push({ contact, identity: identity!, from });
            continue;
          }
          // An erased person is no longer in the state: if the snapshot holds them again, they are new.
          if (decision === 'new' && this.#erased.size > 0) this.#noteErased(contact.email);
          if (decision === 'returner')
            this.#returners.push({ email: contact.email, unsubscribedAt: unsubscribedAt(previous)! });
          if (decision === 'changed' && this.#toClear.length > 0) {
            const emptied = this.#toClear.filter((field) => isEmpty(contact, field));
            if (emptied.length > 0) this.#clearsOf.set(contact.email, emptied);
          }
          await this.#add(
            contact,
            decision === 'new' ? 'added' : decision === 'returner' ? 'resubscribed' : 'updated',
            size,
          );
        }
      }
    }
    return false;
  }

  /**
   * Once every row was read: a contact new to the export whose identity the state holds under an
   * email this snapshot does not have is that contact, whose email changes before its import (the
   * old email is kept in the state until the change is done, and is no leaver); otherwise it is new.
   */
  async #settleRenames(emails: EmailTable): Promise<void> {
    for (const { contact, identity, from } of this.#maybeRenamed.splice(0)) {
      if (emails.isSeen(from) || this.#renamedFrom.has(from)) {
        await this.#add(contact, 'added');
        continue;
      }
      this.#renames.set(contact.email, from);
      this.#renamedFrom.set(from, identity);
      await this.#add(contact, 'emailChanged');
    }
  }

  /**
   * Contacts of the previous state (in the pass's range) that this snapshot does not have: in mirror mode they are
   * unsubscribed; those this export unsubscribed before keep their marker in either mode. Returns
   * what the removal guard needs.
   */
  async #leavers(
    previous: StatePointer,
    emails: EmailTable,
    range: EmailRange,
  ): Promise<{ unsubscribes: number; lastSent: number }> {
    const unsubscribe = [{ listid: String(this.exp.listId) }];
    const unsubscribeLeavers = SYNC_MODES[this.exp.mode].unsubscribeLeavers;
    const untag = this.exp.removeTagsWhenLeaving && this.exp.tags.length > 0;
    let unsubscribes = 0;
    let lastSent = 0;
    for await (const entries of this.deps.exportState.entries(previous, range))
      for (const [email, value] of entries) {
        if (unsubscribedAt(value) === undefined) lastSent++;
        if (emails.isSeen(email)) continue;
        const renamedTo = this.#renamedFrom.get(email);
        if (renamedTo !== undefined) {
          await this.#pendingState?.add(email, value, renamedTo);
          continue;
        }
        // One that left before (unsubscribed then) lost its tags then.
        if (untag && unsubscribedAt(value) === undefined) await this.#untag(email);
        const decision = decideLeaver(value, unsubscribeLeavers);
        if (decision === 'keepMarker') await this.#pendingState?.add(email, value);
        if (decision !== 'unsubscribe') continue;
        unsubscribes++;
        await this.#add({ email, unsubscribe }, 'unsubscribed');
      }
    return { unsubscribes, lastSent };
  }

  /** Shows the counts so far on the run; true when the run ended meanwhile (cancelled). */
  async #heartbeat(): Promise<boolean> {
    if (Date.now() - this.#lastBeat < HEARTBEAT_IN_MS) return false;
    this.#lastBeat = Date.now();
    const { run } = await this.deps.runs.updateRun(this.exp.id, this.run.runId, (r) =>
      r.status !== 'planning'
        ? undefined
        : { ...r, counts: { ...r.counts, ...this.counts }, lastProgressAt: new Date().toISOString() },
    );
    return run.status !== 'planning';
  }

  /** A promise only when the contact filled a batch, which is then written. `size`: as the batcher measured it. */
  #add(contact: ImportContact, change: ContactChange, size?: number): Promise<void> | undefined {
    if (this.sample.length < SAMPLE_SIZE) this.sample.push(contact);
    this.#changeOf.set(contact.email, change);
    const full = this.#batcher.add(contact, size);
    return full && this.#flushBatch(full);
  }

  async #untag(email: string): Promise<void> {
    this.#untags.push(email);
    if (this.#untags.length >= UNTAGS_PER_BATCH) await this.#flushUntags();
  }

  /** An untag batch: no import, only the leavers whose export tags the send worker removes. */
  async #flushUntags(): Promise<void> {
    if (this.#untags.length === 0) return;
    const emails = this.#untags;
    this.#untags = [];
    const planned: PlannedBatch = {
      batch: this.batches.length + 1,
      contacts: 0,
      unsubscribes: 0,
      returners: [],
      untags: emails.length,
      renames: [],
      clears: [],
    };
    this.batches.push(planned);
    await this.#changes.addBatch(
      planned.batch,
      emails.map((email) => ({ email, change: 'untagged' as const })),
    );
    if (this.run.dryRun) return;
    const { runId } = this.run;
    await this.#writes.run(async () => {
      await this.deps.runFiles.writeBatch(runId, planned.batch, []);
      await this.deps.runFiles.writeUntags(runId, planned.batch, emails);
      await this.deps.runs.createBatch(pendingBatch(runId, planned.batch, 0, { untags: emails.length }));
    });
  }

  async #flushBatch(full: { contacts: ImportContact[] } | undefined): Promise<void> {
    if (!full) return;
    const emails = new Set(full.contacts.map((c) => c.email));
    const returners = this.#returners.filter((r) => emails.has(r.email));
    this.#returners = this.#returners.filter((r) => !emails.has(r.email));
    const planned: PlannedBatch = {
      batch: this.batches.length + 1,
      contacts: full.contacts.length,
      unsubscribes: full.contacts.filter((c) => c.unsubscribe).length,
      returners,
      untags: 0,
      renames: full.contacts.flatMap((c) => {
        const from = this.#renames.get(c.email);
        return from === undefined ? [] : [{ from, to: c.email }];
      }),
      clears: full.contacts.flatMap((c) => {
        const fields = this.#clearsOf.get(c.email);
        this.#clearsOf.delete(c.email);
        return fields === undefined ? [] : [{ email: c.email, fields }];
      }),
    };
    this.batches.push(planned);
    await this.#changes.addBatch(
      planned.batch,
      full.contacts.map((c) => {
        const change = this.#changeOf.get(c.email) ?? 'updated';
        this.#changeOf.delete(c.email);
        return { email: c.email, change };
      }),
    );
    if (this.run.dryRun) return;
    const { runId } = this.run;
    await this.#writes.run(async () => {
      await this.deps.runFiles.writeBatch(runId, planned.batch, full.contacts);
      if (returners.length > 0) await this.deps.runFiles.writeReturners(runId, planned.batch, returners);
      if (planned.renames.length > 0) await this.deps.runFiles.writeRenames(runId, planned.batch, planned.renames);
      if (planned.clears.length > 0) await this.deps.runFiles.writeClears(runId, planned.batch, planned.clears);
      await this.deps.runs.createBatch(
        pendingBatch(runId, planned.batch, planned.contacts, {
          unsubscribes: planned.unsubscribes,
          resubscribes: returners.length,
          renames: planned.renames.length,
          clears: planned.clears.length,
        }),
      );
    });
  }

  async #reject(file: string, row: number, email: string, reason: string, category: string): Promise<void> {
    this.counts.rejected++;
    if (category in this.rejectedReasons || Object.keys(this.rejectedReasons).length < MAX_REASONS)
      this.rejectedReasons[category] = (this.rejectedReasons[category] ?? 0) + 1;
    else this.rejectedReasons.other = (this.rejectedReasons.other ?? 0) + 1;
    await this.#rejected.add({ file, row, email, reason });
  }

  #noteErased(email: string): void {
    const at = this.#erased.get(emailHash(email));
    if (at === undefined) return;
    this.#erasedAgain.count++;
    if (!this.#erasedAgain.since || at < this.#erasedAgain.since) this.#erasedAgain.since = at;
  }

  #snapshotFields(): Partial<Run> {
    const { count, since } = this.#erasedAgain;
    const warnings: string[] = [];
    if (count > 0)
      warnings.push(
        `${count} contact(s) erased on request (the first on ${since.slice(0, 10)}) are in this snapshot again, and ${this.run.dryRun ? 'would be' : 'were'} sent again: exclude them from the segment in Customer Insights`,
      );
    const upserts = this.batches.reduce((n, b) => n + b.contacts - b.unsubscribes, 0);
    const untags = this.batches.reduce((n, b) => n + b.untags, 0);
    const clears = this.batches.reduce((n, b) => n + b.clears.length, 0);
    if (this.run.dryRun && clears > 0)
      warnings.push(
        `${clears} contact(s) sent before have values the source emptied since, which a run would clear in ActiveCampaign (${this.#toClear.join(', ')})`,
      );
    if (this.run.dryRun && untags > 0)
      warnings.push(
        `${untags} contact(s) who left the segment would lose the export's tags (${this.exp.tags.join('; ')}) where they have them`,
      );
    if (this.run.dryRun && !SYNC_MODES[this.exp.mode].createsContacts && upserts > 0)
      warnings.push(
        `Update only: a run would look up these ${upserts} contact(s) in ActiveCampaign first and send only those it has (a dry run does not look them up)`,
      );
    return {
      ...(warnings.length > 0 ? { warnings } : {}),
      snapshot: snapshotRef(this.snapshot),
      rejectedRows: this.#rejected.count > 0 ? this.deps.runFiles.rejectedPath(this.run.runId) : undefined,
      changes: this.#changes.count > 0 ? this.deps.runFiles.changesPath(this.run.runId) : undefined,
    };
  }

  #summary(): PlanSummary {
    const messages = Math.ceil(this.batches.length / batchesPerMessage(this.batches.length));
    return {
      ...this.counts,
      batches: this.batches.length,
      messages,
      enqueued: 0,
      rejectedReasons: this.rejectedReasons,
    };
  }

  /**
   * Writes the plan and turns the run to `sending`, then enqueues its messages (or ends it when there is nothing to
   * send).
   */
  async #startSending(removals: Run['removals']): Promise<void> {
    const { deps, exp, run } = this;
    const plan = this.#summary();
    const { run: sending, changed } = await deps.runs.updateRun(exp.id, run.runId, (r) =>
      r.status !== 'planning'
        ? undefined
        : {
            ...r,
            ...this.#snapshotFields(),
            removals,
            plan,
            status: 'sending',
            counts: runCounts(plan, sumBatches([]), false),
            batches: { total: plan.batches, done: 0 },
            lastProgressAt: new Date().toISOString(),
          },
    );
    if (!changed) return; // cancelled while planning
    if (plan.batches === 0) {
      await finalizeRun(deps, exp.id, run.runId);
      return;
    }
    await startSendingBatches(deps, sending, this.log);
  }

  /** A dry run counts what it would send and keeps a sample of the payloads; nothing is sent or committed. */
  async #finishDryRun(removals: Run['removals']): Promise<void> {
    const { deps, exp, run } = this;
    const wouldUnsubscribe = this.batches.reduce((n, b) => n + b.unsubscribes, 0);
    const wouldUpsert = this.batches.reduce((n, b) => n + b.contacts, 0) - wouldUnsubscribe;
    const returners = this.batches.reduce((n, b) => n + b.returners.length, 0);
    await deps.runFiles.writeSample(run.runId, {
      contacts: this.sample,
      batches: this.batches.length,
      wouldUpsert,
      wouldUnsubscribe,
      wouldResubscribe: returners,
      wouldUntag: this.batches.reduce((n, b) => n + b.untags, 0),
      removals,
    });
    const plan = this.#summary();
    const { run: done, changed } = await deps.runs.updateRun(exp.id, run.runId, (r) =>
      TERMINAL_STATUSES.has(r.status)
        ? undefined
        : {
            ...r,
            ...this.#snapshotFields(),
            plan,
            removals,
            status: this.counts.rejected > 0 ? 'completedWithErrors' : 'completed',
            error:
              this.counts.rejected > 0
                ? `${this.counts.rejected} row(s) would be rejected (see the rejected rows)`
                : undefined,
            counts: { ...emptyCounts(), ...this.counts, wouldUpsert, wouldUnsubscribe },
            payloadSample: deps.runFiles.samplePath(run.runId),
            batches: { total: this.batches.length, done: 0 },
            finishedAt: new Date().toISOString(),
          },
    );
    if (changed) await publishRunEnd(deps, done);
  }
}

/** Whether the mapped contact has no value for `field` (firstName, lastName, phone or a custom field id). */
function isEmpty(contact: ImportContact, field: string): boolean {
  if (field === 'firstName') return !contact.first_name;
  if (field === 'lastName') return !contact.last_name;
  if (field === 'phone') return !contact.phone;
  return !contact.fields?.some((f) => String(f.id) === field);
}
