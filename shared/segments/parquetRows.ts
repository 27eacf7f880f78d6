import type { BlobServiceClient } from '@azure/storage-blob';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { checkColumns } from './csvRows.js';
import type { SegmentRow } from './readSegmentFile.js';
import { SegmentError } from './segmentError.js';
import type { SegmentFile } from './snapshot.js';
import { storageProblem } from './textStream.js';

/**
 * Rows of a Parquet file, one row group at a time, read with ranged blob downloads (the footer
 * first), so memory follows the largest row group, not the file.
 */
export async function* parquetRows(blobs: BlobServiceClient, file: SegmentFile): AsyncGenerator<SegmentRow> {
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
      const data = await blob.downloadToBuffer(start, (end ?? byteLength) - start, { conditions, maxRetryRequestsPerBlock: 5 });
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    },
  };
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (error) {
    throw storageProblem(error, where) ?? new SegmentError(`${where} is not a readable Parquet file: ${(error as Error).message}`);
  }
  checkColumns(metadata.schema.slice(1).map((s) => s.name), where);
  let row = 0;
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let objects: Record<string, unknown>[];
    try {
      objects = await parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd, compressors });
    } catch (error) {
      throw storageProblem(error, where) ?? new SegmentError(`${where}: corrupt Parquet row group at row ${rowStart + 1}: ${(error as Error).message}`);
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
