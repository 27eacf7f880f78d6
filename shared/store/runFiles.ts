import type { AppendBlobClient, BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { ImportContact } from '../activecampaign/client.js';

/** Container of the files runs write: batch payloads, rejected rows, payload samples. */
export const RUN_FILES_CONTAINER = 'export-runs';

export interface RejectedRow {
  file: string;
  row: number | '';
  email: string;
  reason: string;
}

const CSV_HEADER = 'file,row,email,reason\n';
/** An append block carries at most 4 MiB. */
const MAX_APPEND_BYTES = 4 * 1024 * 1024;

export function csvField(value: string | number): string {
  const s = String(value);
  // A leading =, +, - or @ would be a formula in a spreadsheet.
  const safe = /^[=+\-@]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function rejectedRowCsv(r: RejectedRow): string {
  return `${csvField(r.file)},${csvField(r.row)},${csvField(r.email)},${csvField(r.reason)}\n`;
}

export class RunFiles {
  readonly container: ContainerClient;
  #created?: Promise<unknown>;

  constructor(blobs: BlobServiceClient) {
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

  batchName(runId: string, batch: number): string {
    return `runs/${runId}/batches/${String(batch).padStart(7, '0')}.json`;
  }

  rejectedName(runId: string): string {
    return `runs/${runId}/rejected.csv`;
  }

  /** `container/name` of the rejected rows, as a run names them. */
  rejectedPath(runId: string): string {
    return `${RUN_FILES_CONTAINER}/${this.rejectedName(runId)}`;
  }

  async writeBatch(runId: string, batch: number, contacts: ImportContact[]): Promise<void> {
    const body = JSON.stringify({ contacts });
    await (await this.ready()).getBlockBlobClient(this.batchName(runId, batch)).upload(body, Buffer.byteLength(body), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
  }

  /** Adds to the emails of one batch that ActiveCampaign rejected or could not process. */
  async addFailedEmails(runId: string, batch: number, emails: string[]): Promise<void> {
    if (emails.length === 0) return;
    const all = [...new Set([...(await this.readFailedEmails(runId, batch)), ...emails])];
    const body = JSON.stringify(all);
    await (await this.ready()).getBlockBlobClient(`runs/${runId}/failed/${String(batch).padStart(7, '0')}.json`).upload(body, Buffer.byteLength(body));
  }

  async readFailedEmails(runId: string, batch: number): Promise<string[]> {
    const blob = (await this.ready()).getBlobClient(`runs/${runId}/failed/${String(batch).padStart(7, '0')}.json`);
    if (!(await blob.exists())) return [];
    return JSON.parse((await blob.downloadToBuffer()).toString('utf8'));
  }

  async readBatch(runId: string, batch: number): Promise<ImportContact[]> {
    const buffer = await (await this.ready()).getBlobClient(this.batchName(runId, batch)).downloadToBuffer();
    return (JSON.parse(buffer.toString('utf8')) as { contacts: ImportContact[] }).contacts;
  }

  samplePath(runId: string): string {
    return `${RUN_FILES_CONTAINER}/runs/${runId}/sample.json`;
  }

  /**
   * The run's rejected-rows CSV, appended to by the planner and the send workers. `fresh` starts
   * it over (a planner that runs again after a crash must not list rows twice).
   */
  async rejectedRows(runId: string, options: { fresh?: boolean } = {}): Promise<RejectedRowsWriter> {
    const blob = (await this.ready()).getAppendBlobClient(this.rejectedName(runId));
    if (options.fresh) await blob.deleteIfExists();
    const created = await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: 'text/csv; charset=utf-8' } });
    if (created.succeeded) await blob.appendBlock(CSV_HEADER, CSV_HEADER.length);
    return new RejectedRowsWriter(blob);
  }

  /** A run file's text, by its name in the container or its `container/name` path. */
  async readText(name: string): Promise<string | undefined> {
    const blob = (await this.ready()).getBlobClient(name.replace(`${RUN_FILES_CONTAINER}/`, ''));
    if (!(await blob.exists())) return undefined;
    return (await blob.downloadToBuffer()).toString('utf8');
  }
}

/** Buffers rejected rows and appends them in blocks. */
export class RejectedRowsWriter {
  #buffer = '';
  count = 0;
  constructor(readonly blob: AppendBlobClient) {}

  async add(row: RejectedRow): Promise<void> {
    this.#buffer += rejectedRowCsv(row);
    this.count++;
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
