import { createGunzip, createGzip } from 'node:zlib';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import type { BlockBlobClient } from '@azure/storage-blob';
import type { TableClient } from '@azure/data-tables';
import type { RunFiles } from '../store/runFiles.js';
import { ensureTable, isConflict, isNotFound } from '../store/tables.js';
import { EmailTable } from '../sync/emailTable.js';

/**
 * An export's state from its last successful run: each contact's email and the fingerprint of
 * what was sent. Kept as one gzip-compressed `email<TAB>fingerprint` blob per commit (about
 * 15 MB for a million contacts), with a small pointer entity; never a row per contact.
 */
const POINTER_PK = 'state';
/** A fingerprint that matches nothing: the contact is sent again by the next run. */
export const UNKNOWN_FINGERPRINT = '-';

export interface StatePointer {
  blob: string;
  runId: string;
  contacts: number;
  committedAt: string;
}

export class ExportStateStore {
  constructor(
    readonly table: TableClient,
    readonly files: RunFiles,
  ) {}

  async pointer(exportId: string): Promise<StatePointer | undefined> {
    try {
      const e = await (await ensureTable(this.table)).getEntity<StatePointer>(POINTER_PK, exportId);
      return { blob: e.blob, runId: e.runId, contacts: Number(e.contacts), committedAt: e.committedAt };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The committed state as email → fingerprint (48 bits as a number), in a compact table. */
  async load(exportId: string): Promise<EmailTable> {
    const pointer = await this.pointer(exportId);
    const state = new EmailTable(pointer?.contacts ?? 0);
    if (!pointer) return state;
    for await (const [email, print] of this.#lines(pointer.blob)) state.set(email, print === UNKNOWN_FINGERPRINT ? -1 : parseInt(print, 16));
    return state;
  }

  /** The emails of the committed state, streamed again (the table keeps only their hashes). */
  async *emails(exportId: string): AsyncGenerator<string> {
    const pointer = await this.pointer(exportId);
    if (!pointer) return;
    for await (const [email] of this.#lines(pointer.blob)) yield email;
  }

  /** A writer for the state a run would commit, streamed to a blob while the run plans. */
  async pendingWriter(runId: string): Promise<StateWriter> {
    const blob = (await this.files.ready()).getBlockBlobClient(`runs/${runId}/state-pending.tsv.gz`);
    return new StateWriter(blob);
  }

  /**
   * Commits a run's pending state without the contacts that failed (so the next run sends them
   * again), plus contacts whose unsubscribe failed (so the next run tries again), then points the
   * export at it. Safe to repeat: the blob is named by the run.
   */
  async commit(exportId: string, runId: string, failed: Set<string>, keep: string[]): Promise<StatePointer> {
    const container = await this.files.ready();
    const name = `state/${exportId}/${runId}.tsv.gz`;
    const writer = new StateWriter(container.getBlockBlobClient(name));
    for await (const [email, print] of this.#lines(`runs/${runId}/state-pending.tsv.gz`)) {
      if (!failed.has(email)) await writer.add(email, print);
    }
    for (const email of keep) await writer.add(email, UNKNOWN_FINGERPRINT);
    await writer.close();
    const pointer: StatePointer = { blob: name, runId, contacts: writer.count, committedAt: new Date().toISOString() };
    const table = await ensureTable(this.table);
    const previous = await this.pointer(exportId);
    await table.upsertEntity({ partitionKey: POINTER_PK, rowKey: exportId, ...pointer }, 'Replace');
    if (previous && previous.blob !== name) await container.getBlobClient(previous.blob).deleteIfExists();
    return pointer;
  }

  async delete(exportId: string): Promise<void> {
    const pointer = await this.pointer(exportId);
    if (!pointer) return;
    await (await this.files.ready()).getBlobClient(pointer.blob).deleteIfExists();
    try {
      await (await ensureTable(this.table)).deleteEntity(POINTER_PK, exportId);
    } catch (error) {
      if (!isNotFound(error) && !isConflict(error)) throw error;
    }
  }

  async *#lines(name: string): AsyncGenerator<[string, string]> {
    const download = await (await this.files.ready()).getBlobClient(name).download();
    const lines = createInterface({ input: download.readableStreamBody!.pipe(createGunzip()), crlfDelay: Infinity });
    for await (const line of lines) {
      const tab = line.indexOf('\t');
      if (tab > 0) yield [line.slice(0, tab), line.slice(tab + 1)];
    }
  }
}

/** Streams `email<TAB>fingerprint` lines, gzip-compressed, into a block blob. */
export class StateWriter {
  readonly #gzip = createGzip();
  readonly #upload: Promise<unknown>;
  /** Lines are handed to gzip in large chunks: one small write per contact is many times slower. */
  #pending = '';
  count = 0;

  constructor(blob: BlockBlobClient) {
    const body = new PassThrough();
    this.#gzip.pipe(body);
    this.#upload = blob.uploadStream(body, 4 * 1024 * 1024, 4, { blobHTTPHeaders: { blobContentType: 'text/tab-separated-values', blobContentEncoding: 'gzip' } });
    this.#upload.catch(() => undefined);
  }

  async add(email: string, print: string): Promise<void> {
    this.count++;
    this.#pending += `${email}\t${print}\n`;
    if (this.#pending.length >= 256 * 1024) await this.#flush();
  }

  async #flush(): Promise<void> {
    const chunk = this.#pending;
    this.#pending = '';
    if (chunk && !this.#gzip.write(chunk)) await new Promise((resolve) => this.#gzip.once('drain', resolve));
  }

  async close(): Promise<void> {
    await this.#flush();
    this.#gzip.end();
    await this.#upload;
  }
}
