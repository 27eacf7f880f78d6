import { createGunzip } from 'node:zlib';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobServiceClient } from '@azure/storage-blob';
import { parse } from 'csv-parse';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { statusOf } from '../store/tables.js';
import { SegmentError } from './segmentError.js';
import type { SegmentFile } from './snapshot.js';

export interface SegmentRow {
  /** `container/name` of the file the row came from. */
  file: string;
  /** The row's record number in its file, counting a header row (as a spreadsheet shows it). */
  row: number;
  record: Record<string, string>;
}

/**
 * Streams the rows of one segment file, never holding more than a few chunks of it. The blob is
 * read under its ETag, so a file replaced mid-run fails the run instead of mixing two snapshots.
 */
export async function* readSegmentFile(blobs: BlobServiceClient, file: SegmentFile, options: { abortSignal?: AbortSignal } = {}): AsyncGenerator<SegmentRow> {
  const where = `${file.container}/${file.name}`;
  if (file.format === 'parquet') {
    yield* readParquet(blobs, file, where);
    return;
  }
  let body: NodeJS.ReadableStream;
  try {
    const download = await blobs
      .getContainerClient(file.container)
      .getBlobClient(file.name)
      .download(0, undefined, { conditions: file.etag ? { ifMatch: file.etag } : undefined, maxRetryRequests: 5, abortSignal: options.abortSignal });
    body = download.readableStreamBody!;
  } catch (error) {
    if (statusOf(error) === 412) throw new SegmentError(`${where} changed while the run was reading it`);
    if (statusOf(error) === 404) throw new SegmentError(`${where} no longer exists`);
    throw error;
  }

  const stages: NodeJS.ReadWriteStream[] = [];
  if (file.gzip) stages.push(createGunzip());
  stages.push(utf8Decoder(where));
  let parser: Transform;
  if (file.format === 'csv') {
    parser = parse({
      delimiter: file.delimiter,
      quote: file.quote === false ? null : file.quote,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as Transform;
  } else {
    parser = jsonLines(where);
  }
  const source = Readable.from(body as AsyncIterable<Buffer>);
  const done = pipeline([source, ...stages, parser] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
  // pipeline's promise rejects when a stage fails; iterating the parser surfaces the same error.
  done.catch(() => undefined);

  let columns = file.columns;
  let row = 0;
  try {
    for await (const item of parser) {
      row++;
      if (file.format === 'jsonl') {
        yield { file: where, row, record: item as Record<string, string> };
        continue;
      }
      const values = item as string[];
      if (row === 1 && file.header) {
        const header = values.map((v) => v.trim());
        // With model.json the attributes name the columns; a header row is only skipped.
        if (!columns) {
          if (header.every((h) => !h)) throw new SegmentError(`${where}: the header row is empty`);
          columns = header;
        }
        continue;
      }
      if (!columns) throw new SegmentError(`${where}: no header row and no column names`);
      const record: Record<string, string> = {};
      for (let i = 0; i < columns.length; i++) record[columns[i]] = values[i] ?? '';
      yield { file: where, row, record };
    }
    await done;
  } catch (error) {
    if (error instanceof SegmentError) throw error;
    const code = (error as { code?: string }).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw new SegmentError(`${where} is not valid gzip: ${(error as Error).message}`);
    if (typeof code === 'string' && code.startsWith('CSV_')) throw new SegmentError(`${where}: corrupt CSV near row ${row + 1}: ${(error as Error).message}`);
    if (statusOf(error) === 412) throw new SegmentError(`${where} changed while the run was reading it`);
    throw error;
  }
}

/** Bytes to text, refusing anything that is not UTF-8 (a leading BOM is dropped). */
function utf8Decoder(where: string): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  const fail = (chunkLength: number) => new SegmentError(`${where} is not UTF-8 text (invalid bytes within the first ${offset + chunkLength} bytes)`);
  return new Transform({
    readableObjectMode: false,
    transform(chunk: Buffer, _enc, callback) {
      try {
        const text = decoder.decode(chunk, { stream: true });
        offset += chunk.length;
        callback(null, text);
      } catch {
        callback(fail(chunk.length));
      }
    },
    flush(callback) {
      try {
        callback(null, decoder.decode());
      } catch {
        callback(fail(0));
      }
    },
  });
}

/** JSON Lines: one object per line; blank lines skipped. */
function jsonLines(where: string): Transform {
  let rest = '';
  let line = 0;
  const parseLine = (text: string, push: (o: unknown) => void) => {
    line++;
    if (!text.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new SegmentError(`${where}: line ${line} is not valid JSON`);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new SegmentError(`${where}: line ${line} is not a JSON object`);
    const record: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) record[k] = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    push(record);
  };
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer | string, _enc, callback) {
      try {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) parseLine(l.replace(/\r$/, ''), (o) => this.push(o));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        parseLine(rest.replace(/\r$/, ''), (o) => this.push(o));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/**
 * Parquet, one row group at a time, read with ranged blob downloads (the footer first), so memory
 * follows the largest row group, not the file.
 */
async function* readParquet(blobs: BlobServiceClient, file: SegmentFile, where: string): AsyncGenerator<SegmentRow> {
  const blob = blobs.getContainerClient(file.container).getBlobClient(file.name);
  const conditions = file.etag ? { ifMatch: file.etag } : undefined;
  let byteLength: number;
  try {
    byteLength = (await blob.getProperties({ conditions })).contentLength ?? 0;
  } catch (error) {
    if (statusOf(error) === 412) throw new SegmentError(`${where} changed while the run was reading it`);
    throw error;
  }
  const buffer: AsyncBuffer = {
    byteLength,
    async slice(start: number, end?: number) {
      const data = await blob.downloadToBuffer(start, (end ?? byteLength) - start, { conditions, maxRetryRequestsPerBlock: 5 });
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    },
  };
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (error) {
    if (statusOf(error) === 412) throw new SegmentError(`${where} changed while the run was reading it`);
    throw new SegmentError(`${where} is not a readable Parquet file: ${(error as Error).message}`);
  }
  let row = 0;
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let objects: Record<string, unknown>[];
    try {
      objects = await parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd, compressors });
    } catch (error) {
      throw new SegmentError(`${where}: corrupt Parquet row group at row ${rowStart + 1}: ${(error as Error).message}`);
    }
    rowStart = rowEnd;
    for (const object of objects) {
      row++;
      const record: Record<string, string> = {};
      for (const [k, v] of Object.entries(object)) record[k] = parquetText(v);
      yield { file: where, row, record };
    }
  }
}

function parquetText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  return String(value);
}
