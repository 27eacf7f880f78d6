import type { BlobServiceClient } from '@azure/storage-blob';
import { parquetMetadataAsync, parquetScan, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { SegmentError } from './segmentError.js';
import { storageProblem } from './textStream.js';
import { checkColumns, type SegmentFile, type SegmentRow } from './segmentFile.js';

/** Rows decoded at a time within a row group, where the file's offset index lets a read stop at a page. */
const ROWS_PER_SLICE = 65_536;
/** Rows handed out at a time: decoded columns are turned into records as they are asked for. */
const ROWS_PER_ARRAY = 1024;

/**
 * Rows of a Parquet file, read with ranged blob downloads (the footer first). Only the columns asked
 * for are decoded (a Customer Insights profile has dozens; an export maps a few), column by column,
 * and rows are handed out one at a time: memory follows the mapped columns of one row group (of one
 * slice of it where the file has an offset index), not the file. Rows come in arrays of up to ROWS_PER_ARRAY.
 */
export async function* parquetRows(
  blobs: BlobServiceClient,
  file: SegmentFile,
  options: { columns?: readonly string[]; maxRows?: number } = {},
): AsyncGenerator<SegmentRow[]> {
  const where = `${file.container}/${file.name}`;
  const blob = blobs.getContainerClient(file.container).getBlobClient(file.name);
  const conditions = file.etag ? { ifMatch: file.etag } : undefined;
  let byteLength: number;
  try {
    byteLength = (await blob.getProperties({ conditions })).contentLength ?? 0;
  } catch (error) {
    throw storageProblem(error, where) ?? error;
  }
  const buffer: AsyncBuffer = {
    byteLength,
    async slice(start: number, end?: number) {
      const data = await blob.downloadToBuffer(start, (end ?? byteLength) - start, {
        conditions,
        maxRetryRequestsPerBlock: 5,
      });
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    },
  };
  const corrupt = (error: unknown, what: string) =>
    storageProblem(error, where) ?? new SegmentError(`${where}${what}: ${(error as Error).message}`);
  let metadata: FileMetaData;
  let columns: string[];
  let scan;
  try {
    metadata = await parquetMetadataAsync(buffer);
    const all = parquetSchema(metadata).children.map((c) => c.element.name);
    checkColumns(all, where);
    columns = columnsToRead(all, options.columns);
    scan = await parquetScan({ file: buffer, metadata, columns, compressors });
  } catch (error) {
    if (error instanceof SegmentError) throw error;
    throw corrupt(error, ' is not a readable Parquet file');
  }
  const sliced = hasOffsetIndex(metadata);
  let row = 0;
  // A caller that reads a few rows (a preview) gets them without the whole row group decoded.
  let left = options.maxRows ?? Infinity;
  for (const range of scan.ranges) {
    for (let start = range.rowStart; start < range.rowEnd && left > 0;) {
      const end = Math.min(sliced ? Math.min(range.rowEnd, start + ROWS_PER_SLICE) : range.rowEnd, start + left);
      left -= end - start;
      let data: ArrayLike<unknown>[];
      try {
        data = [];
        for (const column of columns) data.push(await scan.readColumn({ column, rowStart: start, rowEnd: end }));
      } catch (error) {
        throw corrupt(error, `: corrupt Parquet data at row ${start + 1}`);
      }
      for (let from = 0; from < end - start; from += ROWS_PER_ARRAY) {
        const rows: SegmentRow[] = [];
        for (let i = from; i < Math.min(end - start, from + ROWS_PER_ARRAY); i++) {
          const record: Record<string, string> = {};
          for (let c = 0; c < columns.length; c++) record[columns[c]] = parquetText(data[c][i]);
          rows.push({ file: where, row: ++row, record });
        }
        yield rows;
      }
      start = end;
    }
  }
}

/**
 * The file's columns the reader needs: those whose names match a wanted one, ignoring case (the
 * mapping matches exactly, then ignoring case, and must see every candidate to call one ambiguous).
 * Every column when nothing is asked for, or when a wanted column is missing, so that the mapping's
 * error lists the columns the file has.
 */
function columnsToRead(all: string[], wanted: readonly string[] | undefined): string[] {
  if (!wanted) return all;
  const lower = new Set(wanted.map((w) => w.toLowerCase()));
  const found = all.filter((c) => lower.has(c.toLowerCase()));
  const foundLower = new Set(found.map((c) => c.toLowerCase()));
  return [...lower].every((w) => foundLower.has(w)) ? found : all;
}

function hasOffsetIndex(metadata: FileMetaData): boolean {
  return metadata.row_groups.every((g) => g.columns.every((c) => c.offset_index_offset !== undefined));
}

function parquetText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
}
