import { Transform } from 'node:stream';
import type { BlobServiceClient } from '@azure/storage-blob';
import { MAX_ROW_LENGTH, SegmentError } from './segmentError.js';
import { inArrays, pipeText, storageProblem } from './textStream.js';
import type { SegmentFile, SegmentRow } from './segmentFile.js';

/** Rows of a JSON Lines file, in arrays: one object a line, blank lines skipped; values as text (objects as JSON). */
export async function* jsonLinesRows(
  blobs: BlobServiceClient,
  file: SegmentFile,
  options: { abortSignal?: AbortSignal } = {},
): AsyncGenerator<SegmentRow[]> {
  const where = `${file.container}/${file.name}`;
  const parser = jsonLines(where);
  const { done } = await pipeText(blobs, file, parser, options);
  let row = 0;
  try {
    for await (const records of inArrays<Record<string, string>>(parser))
      yield records.map((record) => ({ file: where, row: ++row, record }));
    await done;
  } catch (error) {
    throw storageProblem(error, where) ?? error;
  }
}

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
    if (!value || typeof value !== 'object' || Array.isArray(value))
      throw new SegmentError(`${where}: line ${line} is not a JSON object`);
    const record: Record<string, string> = {};
    for (const [k, v] of Object.entries(value))
      record[k] = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    push(record);
  };
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer | string, _enc, callback) {
      try {
        // Only the new text is searched for line ends: a long line costs its length once, not per chunk.
        const text = chunk.toString();
        let start = 0;
        for (let end = text.indexOf('\n'); end !== -1; start = end + 1, end = text.indexOf('\n', start)) {
          parseLine((rest + text.slice(start, end)).replace(/\r$/, ''), (o) => this.push(o));
          rest = '';
        }
        rest += text.slice(start);
        if (rest.length > MAX_ROW_LENGTH) {
          throw new SegmentError(
            `${where}: line ${line + 1} is longer than ${MAX_ROW_LENGTH / 2 ** 20} MiB (JSON Lines holds one object a line; is this one JSON document?)`,
          );
        }
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
