import { createHash } from 'node:crypto';
import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { SegmentSource, SnapshotRef } from '../model.js';
import { isNotFound } from '../store/tables.js';
import { readCdmModel } from './cdmModel.js';
import { SegmentError, SnapshotNotReadyError } from './segmentError.js';
import type { SegmentFile, SegmentFormat } from './segmentFile.js';
import { assertReadable } from './sourcePolicy.js';

export interface LocateOptions {
  /** SEGMENTS_CONTAINERS (unset: any container but the app's own). */
  allowedContainers?: readonly string[];
  /** Files of a time folder or a plain folder must not have changed for this long. */
  quietPeriodInMs?: number;
  now?: number;
}

export { SnapshotNotReadyError };

export interface Snapshot extends SnapshotRef {
  layout: 'cdm' | 'customerInsights' | 'files';
  segmentFiles: SegmentFile[];
}

const FORMATS: [RegExp, SegmentFormat][] = [
  [/\.csv(\.gz)?$/i, 'csv'],
  [/\.(jsonl|ndjson)(\.gz)?$/i, 'jsonl'],
  [/\.parquet$/i, 'parquet'],
];
// <table>/<YYYY>/<MM>/<DD>/<HHMM>/<file>, as Customer Insights writes each export.
const TIME_FOLDER = /(?:^|\/)(\d{4})\/(\d{2})\/(\d{2})\/(\d{4})\/[^/]+$/;

export function formatOf(name: string): SegmentFormat | undefined {
  return FORMATS.find(([pattern]) => pattern.test(name))?.[1];
}

export function fileOf(
  container: string,
  name: string,
  etag: string,
  props: { size?: number; lastModified?: Date } = {},
): SegmentFile | undefined {
  const format = formatOf(name);
  if (!format) return undefined;
  return {
    container,
    name,
    etag,
    format,
    gzip: /\.gz$/i.test(name),
    header: format === 'csv',
    delimiter: ',',
    quote: '"',
    size: props.size,
    lastModified: props.lastModified?.getTime(),
  };
}

/**
 * Finds the newest snapshot of a segment source: a Common Data Model folder (model.json), a
 * Customer Insights table folder (newest <YYYY>/<MM>/<DD>/<HHMM> folder), a single file, or a
 * folder of files. Its id changes whenever a file's name or content (ETag) does. A snapshot is
 * taken only when it is complete: every partition model.json names exists, or (other layouts) no
 * file of it changed for the quiet period; otherwise SnapshotNotReadyError says why.
 */
export async function locateSnapshot(
  blobs: BlobServiceClient,
  source: SegmentSource,
  options: LocateOptions = {},
): Promise<Snapshot> {
  const path = assertReadable(source.container, source.path, options.allowedContainers);
  const container = blobs.getContainerClient(source.container);
  if (!(await container.exists())) throw new SegmentError(`The container "${source.container}" does not exist`);

  const modelName = /(^|\/)model\.json$/i.test(path) ? path : `${path ? `${path}/` : ''}model.json`;
  const model = await tryProperties(container, modelName);
  if (model) {
    const files = await readCdmModel(blobs, source.container, modelName, source.table, options.allowedContainers);
    return snapshotOf('cdm', files);
  }

  const single = path ? await tryProperties(container, path) : undefined;
  if (single) {
    const file = fileOf(source.container, path, single.etag ?? '', {
      size: single.contentLength,
      lastModified: single.lastModified,
    });
    if (!file)
      throw new SegmentError(
        `"${path}" is not a supported segment file (.csv, .jsonl, .ndjson, .parquet, optionally .gz)`,
      );
    return quiet(snapshotOf('files', [file]), options);
  }

  const all: SegmentFile[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: path ? `${path}/` : undefined })) {
    const file = fileOf(source.container, blob.name, blob.properties.etag ?? '', {
      size: blob.properties.contentLength,
      lastModified: blob.properties.lastModified,
    });
    if (file && (blob.properties.contentLength ?? 0) > 0) all.push(file);
  }
  const timed = all.filter((f) => TIME_FOLDER.test(f.name));
  if (timed.length > 0) {
    const stamp = (f: SegmentFile) => TIME_FOLDER.exec(f.name)!.slice(1).join('');
    const newest = timed.map(stamp).sort().at(-1);
    return quiet(
      snapshotOf(
        'customerInsights',
        timed.filter((f) => stamp(f) === newest),
      ),
      options,
    );
  }
  if (all.length === 0)
    throw new SegmentError(`No segment files (.csv, .jsonl, .ndjson, .parquet) found at ${source.container}/${path}`);
  return quiet(snapshotOf('files', all), options);
}

/** A folder's files are complete once none of them changed for the quiet period. */
function quiet(snapshot: Snapshot, options: LocateOptions): Snapshot {
  const period = options.quietPeriodInMs ?? 0;
  if (period <= 0) return snapshot;
  const newest = Math.max(...snapshot.segmentFiles.map((f) => f.lastModified ?? 0));
  const age = (options.now ?? Date.now()) - newest;
  if (age < period) {
    const wait = period - age;
    throw new SnapshotNotReadyError(
      `The newest snapshot (${snapshot.segmentFiles.length} file(s)) may still be being written: its files changed ${Math.max(0, Math.round(age / 1000))} s ago, ` +
        `and a snapshot is taken once they have not changed for ${Math.round(period / 1000)} s (SNAPSHOT_QUIET_SECONDS). Try again in ${Math.ceil(wait / 1000)} s.`,
      wait,
    );
  }
  return snapshot;
}

/** What a run records of its snapshot: the id and the files (names and ETags). */
export const snapshotRef = (snapshot: Snapshot): SnapshotRef => ({ id: snapshot.id, files: snapshot.files });

function snapshotOf(layout: Snapshot['layout'], segmentFiles: SegmentFile[]): Snapshot {
  segmentFiles.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  const files = segmentFiles.map((f) => ({ name: `${f.container}/${f.name}`, etag: f.etag }));
  const id = createHash('sha256')
    .update(files.map((f) => `${f.name}\n${f.etag}`).join('\n'))
    .digest('hex')
    .slice(0, 32);
  return { id, files, layout, segmentFiles };
}

async function tryProperties(
  container: ContainerClient,
  name: string,
): Promise<{ etag?: string; contentLength?: number; lastModified?: Date } | undefined> {
  try {
    return await container.getBlobClient(name).getProperties();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
