import type { BlobServiceClient } from '@azure/storage-blob';
import { csvRows } from './csvRows.js';
import { jsonLinesRows } from './jsonLinesRows.js';
import { parquetRows } from './parquetRows.js';
import type { ReadOptions, SegmentFile, SegmentRow } from './segmentFile.js';

/**
 * Streams the rows of one segment file with the reader of its format, never holding the file, in
 * arrays of about a thousand (the planner's loop then awaits once per array, not once per row).
 */
export function readSegmentRows(
  blobs: BlobServiceClient,
  file: SegmentFile,
  options: ReadOptions = {},
): AsyncGenerator<SegmentRow[]> {
  if (file.format === 'parquet') return parquetRows(blobs, file, options);
  if (file.format === 'jsonl') return jsonLinesRows(blobs, file, options);
  return csvRows(blobs, file, options);
}

/** The rows of one segment file one at a time, for callers that read a few (a preview). */
export async function* readSegmentFile(
  blobs: BlobServiceClient,
  file: SegmentFile,
  options: ReadOptions = {},
): AsyncGenerator<SegmentRow> {
  for await (const rows of readSegmentRows(blobs, file, options)) yield* rows;
}

/** Bytes the planner samples at the start of a text file to estimate its rows. */
const SAMPLE_BYTES = 64 * 1024;

/**
 * The mean length in bytes of the rows at the start of an uncompressed text file (one small ranged read), or
 * undefined when it cannot be told (compressed, columnar, empty, or one row longer than the sample).
 */
export async function sampleRowBytes(blobs: BlobServiceClient, file: SegmentFile): Promise<number | undefined> {
  if (file.gzip || file.format === 'parquet' || !file.size) return undefined;
  const length = Math.min(SAMPLE_BYTES, file.size);
  // A file that cannot be sampled is bounded by its bytes; reading it reports what is wrong with it.
  const sample = await blobs
    .getContainerClient(file.container)
    .getBlobClient(file.name)
    .downloadToBuffer(0, length, { conditions: file.etag ? { ifMatch: file.etag } : undefined })
    .catch(() => undefined);
  if (!sample) return undefined;
  let lines = 0;
  for (let i = sample.indexOf(10); i !== -1; i = sample.indexOf(10, i + 1)) lines++;
  if (length === file.size && sample[length - 1] !== 10) lines++;
  if (lines === 0) return undefined;
  return length === file.size ? file.size / lines : (sample.lastIndexOf(10) + 1) / lines;
}
