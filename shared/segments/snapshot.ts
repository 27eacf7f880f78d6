import { createHash } from 'node:crypto';
import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { SegmentSource, SnapshotRef } from '../model.js';
import { isNotFound } from '../store/tables.js';
import { readCdmModel } from './cdmModel.js';
import { SegmentError } from './segmentError.js';

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
}

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

export function fileOf(container: string, name: string, etag: string): SegmentFile | undefined {
  const format = formatOf(name);
  if (!format) return undefined;
  return { container, name, etag, format, gzip: /\.gz$/i.test(name), header: format === 'csv', delimiter: ',', quote: '"' };
}

/**
 * Finds the newest snapshot of a segment source: a Common Data Model folder (model.json), a
 * Customer Insights table folder (newest <YYYY>/<MM>/<DD>/<HHMM> folder), a single file, or a
 * folder of files. Its id changes whenever a file's name or content (ETag) does.
 */
export async function locateSnapshot(blobs: BlobServiceClient, source: SegmentSource): Promise<Snapshot> {
  const container = blobs.getContainerClient(source.container);
  if (!(await container.exists())) throw new SegmentError(`The container "${source.container}" does not exist`);
  const path = source.path.replace(/^\/+|\/+$/g, '');

  const modelName = /(^|\/)model\.json$/i.test(path) ? path : `${path ? `${path}/` : ''}model.json`;
  const model = await tryProperties(container, modelName);
  if (model) {
    const files = await readCdmModel(blobs, source.container, modelName, source.table);
    return snapshotOf('cdm', files);
  }

  const single = path ? await tryProperties(container, path) : undefined;
  if (single) {
    const file = fileOf(source.container, path, single);
    if (!file) throw new SegmentError(`"${path}" is not a supported segment file (.csv, .jsonl, .ndjson, .parquet, optionally .gz)`);
    return snapshotOf('files', [file]);
  }

  const all: SegmentFile[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: path ? `${path}/` : undefined })) {
    const file = fileOf(source.container, blob.name, blob.properties.etag ?? '');
    if (file && (blob.properties.contentLength ?? 0) > 0) all.push(file);
  }
  const timed = all.filter((f) => TIME_FOLDER.test(f.name));
  if (timed.length > 0) {
    const stamp = (f: SegmentFile) => TIME_FOLDER.exec(f.name)!.slice(1).join('');
    const newest = timed.map(stamp).sort().at(-1);
    return snapshotOf('customerInsights', timed.filter((f) => stamp(f) === newest));
  }
  if (all.length === 0) throw new SegmentError(`No segment files (.csv, .jsonl, .ndjson, .parquet) found at ${source.container}/${path}`);
  return snapshotOf('files', all);
}

function snapshotOf(layout: Snapshot['layout'], segmentFiles: SegmentFile[]): Snapshot {
  segmentFiles.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  const files = segmentFiles.map((f) => ({ name: `${f.container}/${f.name}`, etag: f.etag }));
  const id = createHash('sha256')
    .update(files.map((f) => `${f.name}\n${f.etag}`).join('\n'))
    .digest('hex')
    .slice(0, 32);
  return { id, files, layout, segmentFiles };
}

async function tryProperties(container: ContainerClient, name: string): Promise<string | undefined> {
  try {
    const props = await container.getBlobClient(name).getProperties();
    return props.etag ?? '';
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
