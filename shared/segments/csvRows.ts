import type { Transform } from 'node:stream';
import type { BlobServiceClient } from '@azure/storage-blob';
import { parse } from 'csv-parse';
import { MAX_ROW_LENGTH, SegmentError } from './segmentError.js';
import { inArrays, pipeText, storageProblem } from './textStream.js';
import { checkColumns, type SegmentFile, type SegmentRow } from './segmentFile.js';

/** Rows of a CSV file, in arrays: a header row where the file has one, else the columns model.json names. */
export async function* csvRows(
  blobs: BlobServiceClient,
  file: SegmentFile,
  options: { abortSignal?: AbortSignal } = {},
): AsyncGenerator<SegmentRow[]> {
  const where = `${file.container}/${file.name}`;
  const parser = parse({
    delimiter: file.delimiter,
    quote: file.quote === false ? null : file.quote,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_ROW_LENGTH,
    // csv-parse reads bytes: given text, it would encode it again. pipeText checked they are UTF-8.
    bom: true,
  }) as unknown as Transform;
  const { done } = await pipeText(blobs, file, parser, { ...options, bytes: true });
  let columns = file.columns;
  let row = 0;
  try {
    for await (const records of inArrays<string[]>(parser)) {
      const rows: SegmentRow[] = [];
      for (const values of records) {
        row++;
        if (row === 1 && file.header) {
          const header = values.map((v) => v.trim());
          // With model.json the attributes name the columns; a header row is only skipped.
          if (!columns) {
            if (header.every((h) => !h)) throw new SegmentError(`${where}: the header row is empty`);
            checkColumns(header, `${where}: the header row`);
            columns = header;
          }
          continue;
        }
        if (!columns) throw new SegmentError(`${where}: no header row and no column names`);
        const record: Record<string, string> = {};
        for (let i = 0; i < columns.length; i++) record[columns[i]] = values[i] ?? '';
        rows.push({ file: where, row, record });
      }
      if (rows.length > 0) yield rows;
    }
    await done;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'CSV_MAX_RECORD_SIZE')
      throw new SegmentError(
        `${where}: row ${row + 1} is longer than ${MAX_ROW_LENGTH / 2 ** 20} MiB (a quote that is never closed?)`,
      );
    if (typeof code === 'string' && code.startsWith('CSV_'))
      throw new SegmentError(`${where}: corrupt CSV near row ${row + 1}: ${(error as Error).message}`);
    throw storageProblem(error, where) ?? error;
  }
}
