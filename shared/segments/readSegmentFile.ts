import type { BlobServiceClient } from '@azure/storage-blob';
import { csvRows } from './csvRows.js';
import { jsonLinesRows } from './jsonLinesRows.js';
import { parquetRows } from './parquetRows.js';
import type { ReadOptions, SegmentFile, SegmentRow } from './segmentFile.js';

/** Streams the rows of one segment file with the reader of its format, never holding the file. */
export function readSegmentFile(
  blobs: BlobServiceClient,
  file: SegmentFile,
  options: ReadOptions = {},
): AsyncGenerator<SegmentRow> {
  if (file.format === 'parquet') return parquetRows(blobs, file, options);
  if (file.format === 'jsonl') return jsonLinesRows(blobs, file, options);
  return csvRows(blobs, file, options);
}
