import { text as streamText } from 'node:stream/consumers';
import type {
  AppendBlobClient,
  BlobClient,
  BlobServiceClient,
  BlockBlobClient,
  ContainerClient,
} from '@azure/storage-blob';
import type { ImportContact } from '../activecampaign/client.js';
import { Pool } from '../pool.js';
import type { ChangesPort, RejectedRowsPort, RunFilesPort } from '../runs/ports.js';
import {
  runStartedAt,
  type ContactChange,
  type RejectedRow,
  type Rename,
  type Returner,
  type ValuesToClear,
} from '../runs/runModel.js';
import { parse } from 'csv-parse/sync';
import { normalisedEmail } from '../erasures/erasureModel.js';
import { statusOf } from './tables.js';

/** Deletes in flight at once when a run's files go. */
const DELETE_CONCURRENCY = 16;

/** Container of the files runs write that outlive them: rejected rows, changes, payload samples, export state. */
export const RUN_FILES_CONTAINER = 'export-runs';

/**
 * Container of what one run only needs while it sends (payloads, returners, untags, email changes, values to
 * clear): deleted whole when the run ends, one request instead of one a batch (a million contacts are 4,000
 * payloads). Its name starts with the run files' container's, so whatever keeps the app's containers apart
 * (segments/sourcePolicy.ts, the blob events' filter in infra) keeps these apart too.
 */
export const workContainerName = (runId: string) => `${RUN_FILES_CONTAINER}-${runId}`;

const CSV_HEADER = 'file,row,email,reason\n';
/** An append block carries at most 4 MiB. */
const MAX_APPEND_BYTES = 4 * 1024 * 1024;

export function csvField(value: string | number): string {
  const s = String(value);
  // A leading =, +, - or @ (or a tab or carriage return before one) makes a spreadsheet read a formula.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A field as csvField wrote it, without the mark that keeps a spreadsheet from reading a formula. */
export const csvValue = (field: string) => (/^'[=+\-@\t\r]/.test(field) ? field.slice(1) : field);

/** One line of the planner's `email,change,batch` file (the email may be quoted; the last two fields never are). */
export function parseChangeLine(line: string): { email: string; change: string; batch: number } | undefined {
  const last = line.lastIndexOf(',');
  const middle = line.lastIndexOf(',', last - 1);
  if (middle <= 0) return undefined;
  let email = line.slice(0, middle);
  if (email.startsWith('"')) email = email.slice(1, -1).replace(/""/g, '"');
  return { email: csvValue(email), change: line.slice(middle + 1, last), batch: Number(line.slice(last + 1)) };
}

export function rejectedRowCsv(r: RejectedRow): string {
  return `${csvField(r.file)},${csvField(r.row)},${csvField(r.email)},${csvField(r.reason)}\n`;
}

const pad = (batch: number) => String(batch).padStart(7, '0');

/**
 * Every blob a run or an export's state uses, named in one place. A run's files live under
 * `runs/<runId>/`; what only matters while it sends is deleted when it ends (its work container, and the
 * pending state), the rest (rejected rows, the emails it changed, those of them that failed and those an
 * update-only run did not find, a dry run's sample) after RUN_RETENTION_DAYS.
 */
export const runFileNames = {
  runPrefix: (runId: string) => `runs/${runId}/`,
  failed: (runId: string, batch: number) => `runs/${runId}/failed/${pad(batch)}.json`,
  notInActiveCampaign: (runId: string, batch: number) => `runs/${runId}/notInActiveCampaign/${pad(batch)}.json`,
  pendingState: (runId: string) => `runs/${runId}/state-pending.tsv.gz`,
  rejected: (runId: string) => `runs/${runId}/rejected.csv`,
  changes: (runId: string) => `runs/${runId}/changes.csv`,
  sample: (runId: string) => `runs/${runId}/sample.json`,
  state: (exportId: string, runId: string) => `state/${exportId}/${runId}.tsv.gz`,
  statePrefix: (exportId: string) => `state/${exportId}/`,
};

/**
 * A batch's work files, by their names in the run's work container. Runs before work containers kept them
 * under `runs/<runId>/` in the run files' container: a run in flight at an upgrade finds them there.
 */
const workFileNames = {
  batch: (batch: number) => `batches/${pad(batch)}.json`,
  returners: (batch: number) => `returners/${pad(batch)}.json`,
  untags: (batch: number) => `untags/${pad(batch)}.json`,
  renames: (batch: number) => `renames/${pad(batch)}.json`,
  renamed: (batch: number) => `renamed/${pad(batch)}.json`,
  clears: (batch: number) => `clears/${pad(batch)}.json`,
};
const WORK_FOLDERS = Object.values(workFileNames).map((named) => named(0).replace(/[^/]*$/, ''));
/** Work containers a process remembers having created. */
const MAX_KNOWN_WORK_CONTAINERS = 256;

export class RunFiles implements RunFilesPort {
  readonly container: ContainerClient;
  #created?: Promise<unknown>;
  readonly #workCreated = new Map<string, Promise<unknown>>();

  constructor(readonly blobs: BlobServiceClient) {
    this.container = blobs.getContainerClient(RUN_FILES_CONTAINER);
  }

  async ready(): Promise<ContainerClient> {
    this.#created ??= this.container.createIfNotExists().catch((e) => {
      this.#created = undefined;
      throw e;
    });
    await this.#created;
    return this.container;
  }

  /** `container/name` of a run file, as a run names it. */
  path(name: string): string {
    return `${RUN_FILES_CONTAINER}/${name}`;
  }

  rejectedPath(runId: string): string {
    return this.path(runFileNames.rejected(runId));
  }

  samplePath(runId: string): string {
    return this.path(runFileNames.sample(runId));
  }

  changesPath(runId: string): string {
    return this.path(runFileNames.changes(runId));
  }

  async writeBatch(runId: string, batch: number, contacts: ImportContact[]): Promise<void> {
    await this.#writeWork(runId, workFileNames.batch(batch), { contacts });
  }

  /** The batch's payload, or undefined when it is gone (its run ended and cleaned up). */
  async readBatch(runId: string, batch: number): Promise<ImportContact[] | undefined> {
    return (await this.#readWork<{ contacts: ImportContact[] }>(runId, workFileNames.batch(batch)))?.contacts;
  }

  /** Adds to the emails of one batch that ActiveCampaign rejected or could not process. */
  async addFailedEmails(runId: string, batch: number, emails: string[]): Promise<void> {
    if (emails.length === 0) return;
    const all = [...new Set([...(await this.readFailedEmails(runId, batch)), ...emails])];
    await this.#writeJson(runFileNames.failed(runId, batch), all);
  }

  async readFailedEmails(runId: string, batch: number): Promise<string[]> {
    return (await this.#readJson<string[]>(runFileNames.failed(runId, batch))) ?? [];
  }

  /** Adds to the emails of one batch that an update-only run looked up and ActiveCampaign does not have. */
  async addNotInActiveCampaign(runId: string, batch: number, emails: string[]): Promise<void> {
    if (emails.length === 0) return;
    const all = [...new Set([...(await this.readNotInActiveCampaign(runId, batch)), ...emails])];
    await this.#writeJson(runFileNames.notInActiveCampaign(runId, batch), all);
  }

  async readNotInActiveCampaign(runId: string, batch: number): Promise<string[]> {
    return (await this.#readJson<string[]>(runFileNames.notInActiveCampaign(runId, batch))) ?? [];
  }

  /** The leavers of an untag batch: contacts whose export tags are removed. */
  async writeUntags(runId: string, batch: number, emails: string[]): Promise<void> {
    await this.#writeWork(runId, workFileNames.untags(batch), emails);
  }

  async readUntags(runId: string, batch: number): Promise<string[]> {
    return (await this.#readWork<string[]>(runId, workFileNames.untags(batch))) ?? [];
  }

  /** A batch's contacts whose emptied values are cleared before its import (mapping.emptyValues). */
  async writeClears(runId: string, batch: number, clears: ValuesToClear[]): Promise<void> {
    await this.#writeWork(runId, workFileNames.clears(batch), clears);
  }

  async readClears(runId: string, batch: number): Promise<ValuesToClear[]> {
    return (await this.#readWork<ValuesToClear[]>(runId, workFileNames.clears(batch))) ?? [];
  }

  /** A batch's email changes (mapping.identity), made before its import. */
  async writeRenames(runId: string, batch: number, renames: Rename[]): Promise<void> {
    await this.#writeWork(runId, workFileNames.renames(batch), renames);
  }

  async readRenames(runId: string, batch: number): Promise<Rename[]> {
    return (await this.#readWork<Rename[]>(runId, workFileNames.renames(batch))) ?? [];
  }

  /** Adds to the old emails of a batch's email changes that are done (the state forgets them). */
  async addRenamed(runId: string, batch: number, emails: string[]): Promise<void> {
    if (emails.length === 0) return;
    const all = [...new Set([...(await this.readRenamed(runId, batch)), ...emails])];
    await this.#writeWork(runId, workFileNames.renamed(batch), all);
  }

  async readRenamed(runId: string, batch: number): Promise<string[]> {
    return (await this.#readWork<string[]>(runId, workFileNames.renamed(batch))) ?? [];
  }

  async writeReturners(runId: string, batch: number, returners: Returner[]): Promise<void> {
    await this.#writeWork(runId, workFileNames.returners(batch), returners);
  }

  async readReturners(runId: string, batch: number): Promise<Returner[]> {
    return (await this.#readWork<Returner[]>(runId, workFileNames.returners(batch))) ?? [];
  }

  async writeSample(runId: string, sample: unknown): Promise<void> {
    await this.#writeJson(runFileNames.sample(runId), sample);
  }

  /**
   * The run's rejected-rows CSV, appended to by the planner and the workers. `fresh` starts it over
   * (a planner that runs again after a crash must not list rows twice).
   */
  async rejectedRows(runId: string, options: { fresh?: boolean } = {}): Promise<RejectedRowsWriter> {
    return new RejectedRowsWriter(await this.#csv(runFileNames.rejected(runId), CSV_HEADER, options.fresh));
  }

  /** The emails the run's plan changes, written by the planner alone (started over when it plans again). */
  async changes(runId: string): Promise<ChangesWriter> {
    return new ChangesWriter(await this.#csv(runFileNames.changes(runId), CHANGES_HEADER, true));
  }

  async #csv(name: string, header: string, fresh = false): Promise<AppendBlobClient> {
    const blob = (await this.ready()).getAppendBlobClient(name);
    if (fresh) await blob.deleteIfExists();
    const created = await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: 'text/csv; charset=utf-8' } });
    if (created.succeeded) await blob.appendBlock(header, header.length);
    return blob;
  }

  /**
   * Takes one (normalised) email out of a run's files that outlive it: rejected rows, changed
   * contacts, the payload sample, the failed emails and those not found (an erasure). Returns how many files changed.
   */
  async forgetEmail(runId: string, email: string): Promise<number> {
    const same = (value: unknown) => typeof value === 'string' && normalisedEmail(csvValue(value)) === email;
    let changed = 0;
    const rejected = await this.readText(runFileNames.rejected(runId));
    const rows = rejected === undefined ? [] : parse<Record<string, string>>(rejected, { columns: true });
    if (rows.some((r) => same(r.email))) {
      const writer = await this.rejectedRows(runId, { fresh: true });
      for (const r of rows.filter((row) => !same(row.email)))
        await writer.add({
          file: csvValue(r.file),
          row: Number(r.row),
          email: csvValue(r.email),
          reason: csvValue(r.reason),
        });
      await writer.flush();
      changed++;
    }
    const changes = await this.readText(runFileNames.changes(runId));
    const lines = changes === undefined ? [] : parse<Record<string, string>>(changes, { columns: true });
    if (lines.some((l) => same(l.email))) {
      const writer = await this.changes(runId);
      for (const l of lines.filter((line) => !same(line.email)))
        await writer.addBatch(Number(l.batch), [{ email: csvValue(l.email), change: l.change as ContactChange }]);
      await writer.flush();
      changed++;
    }
    const sample = await this.#readJson<{ contacts?: { email?: unknown }[] }>(runFileNames.sample(runId));
    if (sample?.contacts?.some((c) => same(c.email))) {
      await this.writeSample(runId, { ...sample, contacts: sample.contacts.filter((c) => !same(c.email)) });
      changed++;
    }
    const container = await this.ready();
    for (const folder of ['failed/', 'notInActiveCampaign/'])
      for await (const blob of container.listBlobsFlat({ prefix: `${runFileNames.runPrefix(runId)}${folder}` })) {
        const emails = (await this.#readJson<string[]>(blob.name)) ?? [];
        if (!emails.some(same)) continue;
        await this.#writeJson(
          blob.name,
          emails.filter((e) => !same(e)),
        );
        changed++;
      }
    return changed;
  }

  /** A run file as a stream (rejected rows downloads), or undefined when there is none. */
  async download(name: string): Promise<{ body: NodeJS.ReadableStream; contentLength?: number } | undefined> {
    try {
      const response = await (await this.ready()).getBlobClient(name).download();
      return { body: response.readableStreamBody!, contentLength: response.contentLength };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** A run file's text, by its name in the container or its `container/name` path. */
  async readText(name: string): Promise<string | undefined> {
    const blob = (await this.ready()).getBlobClient(name.replace(`${RUN_FILES_CONTAINER}/`, ''));
    try {
      return await blobText(blob);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Deletes what a run only needed while it sent: its work container (payloads, returners, untags, email
   * changes, values to clear) and its pending state; the failed emails stay with the changes they belong to.
   * The files of batches in `keep` stay (an accepted import still being checked after a cancel), and so
   * does the container then, until the run's files expire.
   */
  async deleteWorkFiles(runId: string, keep: ReadonlySet<number> = new Set()): Promise<void> {
    const kept = (name: string) => keep.size > 0 && keep.has(Number(/\/(\d+)\.json$/.exec(name)?.[1]));
    const work = this.blobs.getContainerClient(workContainerName(runId));
    if (keep.size === 0) await work.deleteIfExists();
    else await this.#deleteBlobs(work, '', (name) => !kept(name));
    // A run from before work containers keeps its work files under runs/<runId>/.
    const prefix = runFileNames.runPrefix(runId);
    await this.deletePrefix(prefix, (name) => WORK_FOLDERS.some((f) => name.startsWith(prefix + f)) && !kept(name));
    await (await this.ready()).getBlobClient(runFileNames.pendingState(runId)).deleteIfExists();
  }

  /** Deletes the work files of one batch (an accepted import checked after its run ended). */
  async deleteBatchFiles(runId: string, batch: number): Promise<void> {
    const work = this.blobs.getContainerClient(workContainerName(runId));
    const container = await this.ready();
    for (const name of Object.values(workFileNames).map((named) => named(batch))) {
      await work.getBlobClient(name).deleteIfExists();
      await container.getBlobClient(`${runFileNames.runPrefix(runId)}${name}`).deleteIfExists();
    }
  }

  /** Deletes every file of a run: its run files, its work container. */
  async deleteRunFiles(runId: string): Promise<void> {
    await this.deletePrefix(runFileNames.runPrefix(runId));
    await this.blobs.getContainerClient(workContainerName(runId)).deleteIfExists();
  }

  /**
   * Deletes the files (rejected rows, payload samples, anything left) of at most `max` runs that
   * started before `before`: they hold email addresses. Returns how many runs.
   */
  async deleteRunsStartedBefore(before: number, max: number): Promise<number> {
    const container = await this.ready();
    let expired = 0;
    for await (const item of container.listBlobsByHierarchy('/', { prefix: 'runs/' })) {
      if (item.kind !== 'prefix') continue;
      const runId = item.name.slice('runs/'.length, -1);
      if (!/^\d{13}/.test(runId) || runStartedAt(runId) >= before) continue;
      await this.deletePrefix(runFileNames.runPrefix(runId));
      if (++expired >= max) break;
    }
    // Work containers a run left (it ended with an import still being checked, or its end failed).
    let containers = 0;
    const prefix = workContainerName('');
    for await (const item of this.blobs.listContainers({ prefix })) {
      const runId = item.name.slice(prefix.length);
      if (!/^\d{13}/.test(runId) || runStartedAt(runId) >= before) continue;
      await this.blobs.getContainerClient(item.name).deleteIfExists();
      if (++containers >= max) break;
    }
    return expired;
  }

  /**
   * Deletes every blob under a prefix, several at a time (a 10-million-contact run has 40,000 payloads); returns how
   * many.
   */
  async deletePrefix(prefix: string, which: (name: string) => boolean = () => true): Promise<number> {
    return this.#deleteBlobs(await this.ready(), prefix, which);
  }

  async #deleteBlobs(container: ContainerClient, prefix: string, which: (name: string) => boolean): Promise<number> {
    const deletes = new Pool(DELETE_CONCURRENCY);
    let deleted = 0;
    try {
      for await (const blob of container.listBlobsFlat({ prefix })) {
        if (!which(blob.name)) continue;
        await deletes.run(() => container.getBlobClient(blob.name).deleteIfExists());
        deleted++;
      }
    } catch (error) {
      if (statusOf(error) !== 404) throw error; // no such container: nothing to delete
    }
    await deletes.drain();
    return deleted;
  }

  /** A run's work container, created the first time this process writes to it. */
  async #work(runId: string): Promise<ContainerClient> {
    const work = this.blobs.getContainerClient(workContainerName(runId));
    let created = this.#workCreated.get(runId);
    if (!created) {
      if (this.#workCreated.size >= MAX_KNOWN_WORK_CONTAINERS) this.#workCreated.clear();
      created = work.createIfNotExists().catch((e) => {
        this.#workCreated.delete(runId);
        throw e;
      });
      this.#workCreated.set(runId, created);
    }
    await created;
    return work;
  }

  async #writeWork(runId: string, name: string, value: unknown): Promise<void> {
    await this.#upload((await this.#work(runId)).getBlockBlobClient(name), value);
  }

  /** A work file, or undefined; a run whose work container never existed kept it under runs/<runId>/. */
  async #readWork<T>(runId: string, name: string): Promise<T | undefined> {
    let text: string | undefined;
    try {
      text = await blobText(this.blobs.getContainerClient(workContainerName(runId)).getBlobClient(name));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ContainerNotFound') throw error;
      text = await this.readText(`${runFileNames.runPrefix(runId)}${name}`);
    }
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async #writeJson(name: string, value: unknown): Promise<void> {
    await this.#upload((await this.ready()).getBlockBlobClient(name), value);
  }

  async #upload(blob: BlockBlobClient, value: unknown): Promise<void> {
    const body = JSON.stringify(value);
    await blob.upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
  }

  async #readJson<T>(name: string): Promise<T | undefined> {
    const text = await this.readText(name);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }
}

/** A blob's text, undefined when the blob is not there; a missing container throws (ContainerNotFound). */
async function blobText(blob: BlobClient): Promise<string | undefined> {
  try {
    // One GET: downloadToBuffer without a length asks for the blob's properties first.
    return await streamText((await blob.download()).readableStreamBody!);
  } catch (error) {
    if (statusOf(error) === 404 && (error as { code?: string }).code !== 'ContainerNotFound') return undefined;
    throw error;
  }
}

/** Buffers lines of a CSV file and appends them in blocks. */
class CsvAppender {
  #buffer = '';
  count = 0;
  constructor(readonly blob: AppendBlobClient) {}

  protected async addLine(line: string): Promise<void> {
    await this.addLines(line, 1);
  }

  protected async addLines(lines: string, count: number): Promise<void> {
    this.#buffer += lines;
    this.count += count;
    if (this.#buffer.length >= 1024 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    while (this.#buffer) {
      let chunk = this.#buffer;
      while (Buffer.byteLength(chunk) > MAX_APPEND_BYTES) chunk = chunk.slice(0, Math.floor(chunk.length / 2));
      this.#buffer = this.#buffer.slice(chunk.length);
      await this.blob.appendBlock(chunk, Buffer.byteLength(chunk));
    }
  }
}

export class RejectedRowsWriter extends CsvAppender implements RejectedRowsPort {
  add(row: RejectedRow): Promise<void> {
    return this.addLine(rejectedRowCsv(row));
  }
}

/** `email,change,batch`: the outcome is added when the file is read (GET …/changes), from the batches' ends. */
const CHANGES_HEADER = 'email,change,batch\n';

export class ChangesWriter extends CsvAppender implements ChangesPort {
  addBatch(batch: number, contacts: readonly { email: string; change: ContactChange }[]): Promise<void> {
    let lines = '';
    for (const c of contacts) lines += `${csvField(c.email)},${c.change},${batch}\n`;
    return this.addLines(lines, contacts.length);
  }
}
