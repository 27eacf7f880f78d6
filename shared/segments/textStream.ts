import { isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobServiceClient } from '@azure/storage-blob';
import { statusOf } from '../store/tables.js';
import { SegmentError } from './segmentError.js';
import type { SegmentFile } from './segmentFile.js';

/**
 * A segment file's text, piped into `parser`: downloaded under its ETag (a file replaced mid-run
 * fails the run instead of mixing two snapshots), gunzipped when `.gz`, and decoded as UTF-8 that
 * must be valid (a leading BOM is dropped). With `bytes`, the parser gets the bytes once they are
 * known to be UTF-8, BOM and all (a parser that works on bytes would encode the text again). `done`
 * settles when the pipeline ends.
 */
export async function pipeText(
  blobs: BlobServiceClient,
  file: SegmentFile,
  parser: Transform,
  options: { abortSignal?: AbortSignal; bytes?: boolean } = {},
): Promise<{ done: Promise<void> }> {
  const where = `${file.container}/${file.name}`;
  let body: NodeJS.ReadableStream;
  try {
    const download = await blobs
      .getContainerClient(file.container)
      .getBlobClient(file.name)
      .download(0, undefined, {
        conditions: file.etag ? { ifMatch: file.etag } : undefined,
        maxRetryRequests: 5,
        abortSignal: options.abortSignal,
      });
    body = download.readableStreamBody!;
  } catch (error) {
    throw storageProblem(error, where) ?? error;
  }
  const stages: NodeJS.ReadWriteStream[] = [];
  if (file.gzip) stages.push(createGunzip());
  stages.push(options.bytes ? utf8Check(where) : utf8Decoder(where));
  const source = Readable.from(body as AsyncIterable<Buffer>);
  const done = pipeline([source, ...stages, parser] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
  // The parser's iterator surfaces a stage's failure too; a reader that stops early ends the pipeline.
  done.catch(() => undefined);
  return { done };
}

/** A segment problem for a storage failure that has one (412: changed, 404: gone), else undefined. */
export function storageProblem(error: unknown, where: string): SegmentError | undefined {
  if (error instanceof SegmentError) return error;
  if (statusOf(error) === 412) return new SegmentError(`${where} changed while the run was reading it`);
  if (statusOf(error) === 404) return new SegmentError(`${where} no longer exists`);
  const code = (error as { code?: string }).code;
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR')
    return new SegmentError(`${where} is not valid gzip: ${(error as Error).message}`);
  return undefined;
}

/** Bytes to text, refusing anything that is not UTF-8 (a leading BOM is dropped). */
function utf8Decoder(where: string): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  const fail = (chunkLength: number) => notUtf8(where, offset + chunkLength);
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

/** Bytes passed on as they are once known to be UTF-8; a character split between two chunks goes with the second. */
function utf8Check(where: string): Transform {
  let offset = 0;
  let carried: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      const bytes = carried ? Buffer.concat([carried, chunk]) : chunk;
      const whole = wholeCharacters(bytes);
      if (!isUtf8(bytes.subarray(0, whole))) {
        callback(notUtf8(where, offset + bytes.length));
        return;
      }
      carried = whole < bytes.length ? Buffer.from(bytes.subarray(whole)) : undefined;
      offset += whole;
      callback(null, whole < bytes.length ? bytes.subarray(0, whole) : bytes);
    },
    flush(callback) {
      // The file ends inside a character.
      callback(carried ? notUtf8(where, offset + carried.length) : null);
    },
  });
}

/** The length of `bytes` without a character its end cuts short (its first bytes, up to three). */
export function wholeCharacters(bytes: Uint8Array): number {
  let start = bytes.length - 1;
  // Back over continuation bytes (10xxxxxx) to the last character's first byte, at most three.
  while (start >= 0 && start > bytes.length - 4 && (bytes[start] & 0xc0) === 0x80) start--;
  if (start < 0) return bytes.length;
  const first = bytes[start];
  const length = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1;
  return bytes.length - start < length ? start : bytes.length;
}

const notUtf8 = (where: string, within: number) =>
  new SegmentError(`${where} is not UTF-8 text (invalid bytes within the first ${within} bytes)`);

/**
 * What a stream in object mode has at hand, at most `max` at a time: one await per array instead of
 * one per object (a million rows cost a million promise turns otherwise). Stopping early destroys
 * the stream, as a `for await` over it would.
 */
export async function* inArrays<T>(readable: Readable, max = 1024): AsyncGenerator<T[]> {
  try {
    for (;;) {
      const items: T[] = [];
      for (let item: T | null; items.length < max && (item = readable.read() as T | null) !== null;) items.push(item);
      if (items.length > 0) {
        yield items;
        continue;
      }
      if (readable.errored) throw readable.errored;
      if (readable.readableEnded || readable.destroyed) return;
      await new Promise<void>((resolve, reject) => {
        const settle = (error?: Error) => {
          readable.off('readable', settle).off('end', settle).off('close', settle).off('error', settle);
          if (error) reject(error);
          else resolve();
        };
        readable.on('readable', settle).on('end', settle).on('close', settle).on('error', settle);
      });
    }
  } finally {
    if (!readable.readableEnded) readable.destroy();
  }
}
