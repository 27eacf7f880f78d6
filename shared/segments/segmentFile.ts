import { SegmentError } from './segmentError.js';

/** A segment file as the snapshot found it, and the rows its reader gives (one module per format reads them). */

export type SegmentFormat = 'csv' | 'jsonl' | 'parquet';

export interface SegmentFile {
  container: string;
  name: string;
  etag: string;
  format: SegmentFormat;
  gzip: boolean;
  /** CSV: whether the first record is a header row. */
  header: boolean;
  /** Column names when they are known without a header row (Common Data Model attributes). */
  columns?: string[];
  delimiter: string;
  quote: string | false;
  size?: number;
  /** When the blob was last written (ms since epoch). */
  lastModified?: number;
}

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

/** A header (or model.json's attribute list) that names a column twice is refused: no "second wins". */
export function checkColumns(columns: readonly string[], where: string): void {
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c)) throw new SegmentError(`${where} names the column "${c}" twice`);
    seen.add(c);
  }
}
