import type { BlobServiceClient } from '@azure/storage-blob';
import { csvRows } from './csvRows.js';
import { jsonLinesRows } from './jsonLinesRows.js';
import { parquetRows } from './parquetRows.js';
import type { SegmentFile } from './snapshot.js';

export interface SegmentRow {
  /** `container/name` of the file the row came from. */
  file: string;
  /** The row's record number in its file, counting a header row (as a spreadsheet shows it). */
  row: number;
  record: Record<string, string>;
}

export interface ReadOptions {
  abortSignal?: AbortSignal;
  /**
   * The columns the caller uses (names as mapped: matched exactly or ignoring case). A columnar
   * format decodes only these; a row may still carry others. Unset: every column.
   */
  columns?: readonly string[];
  /** The most rows the caller reads (a preview, a look at the columns): a columnar format decodes no more. */
  maxRows?: number;
}

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
